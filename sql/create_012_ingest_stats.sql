CREATE TABLE IF NOT EXISTS ingest_stats (
    shard VARCHAR NOT NULL PRIMARY KEY,
    source VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    container VARCHAR NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_kept BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    duplicates_within_shard BIGINT NOT NULL,
    duplicates_across_shards BIGINT NOT NULL,
    empty_turns_dropped BIGINT NOT NULL,
    ingested_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
