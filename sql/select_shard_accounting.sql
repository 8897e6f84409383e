SELECT
    s.rows_read,
    s.rows_kept,
    s.rows_quarantined,
    s.duplicates_within_shard,
    s.duplicates_across_shards,
    (SELECT count(*) FROM pool WHERE shard = s.shard) AS pool_rows,
    (SELECT count(*) FROM quarantine WHERE shard = s.shard) AS quarantine_rows,
    (SELECT count(*) FROM pool_duplicates WHERE shard = s.shard) AS duplicate_rows
FROM ingest_stats AS s
WHERE s.shard = ?;
