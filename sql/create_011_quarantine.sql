CREATE TABLE IF NOT EXISTS quarantine (
    shard VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    position BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    detail VARCHAR,
    raw VARCHAR,
    quarantined_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
