DELETE FROM quarantine WHERE shard = ?;
