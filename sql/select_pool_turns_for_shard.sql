SELECT row_id, turns FROM pool WHERE shard = ? ORDER BY position;
