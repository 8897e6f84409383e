-- Stored per shard, from that shard alone (rows_unique: distinct rows in the file); the view
-- sql/view_30_ingest_stats.sql adds rows_kept and duplicates_across_shards, which depend on other shards.
CREATE TABLE IF NOT EXISTS ingest_stats (
    shard VARCHAR NOT NULL PRIMARY KEY,
    source VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    container VARCHAR NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_unique BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    duplicates_within_shard BIGINT NOT NULL,
    empty_turns_dropped BIGINT NOT NULL,
    ingested_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
