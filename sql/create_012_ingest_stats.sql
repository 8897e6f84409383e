CREATE TABLE IF NOT EXISTS ingest_stats (
    shard VARCHAR NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_kept BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    duplicates_within_shard BIGINT NOT NULL,
    duplicates_across_shards BIGINT NOT NULL,
    ingested_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
