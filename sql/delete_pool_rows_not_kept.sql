DELETE FROM pool WHERE row_id NOT IN (SELECT row_id FROM _keep_rows);
