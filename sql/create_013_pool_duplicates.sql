CREATE TABLE IF NOT EXISTS pool_duplicates (
    shard VARCHAR NOT NULL,
    position BIGINT NOT NULL,
    row_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    kept_in_shard VARCHAR NOT NULL
);
