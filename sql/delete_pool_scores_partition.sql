DELETE FROM pool_scores WHERE shard = ?;
