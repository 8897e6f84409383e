DELETE FROM pool_duplicates WHERE shard = ?;
