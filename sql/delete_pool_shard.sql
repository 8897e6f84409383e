DELETE FROM pool WHERE shard = ?;
