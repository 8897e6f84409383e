SELECT row_id FROM pool;
