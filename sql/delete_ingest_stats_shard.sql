DELETE FROM ingest_stats WHERE shard = ?;
