CREATE TABLE IF NOT EXISTS pool (
    shard VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL PRIMARY KEY,
    source VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    position BIGINT NOT NULL,
    format VARCHAR NOT NULL,
    turns STRUCT(role VARCHAR, content VARCHAR)[] NOT NULL,
    n_turns INTEGER NOT NULL,
    n_chars BIGINT NOT NULL,
    ingested_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
