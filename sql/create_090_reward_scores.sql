CREATE TABLE IF NOT EXISTS reward_scores (
    shard VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    rewards DOUBLE[] NOT NULL,
    reward DOUBLE,
    status VARCHAR NOT NULL,
    failure_reason VARCHAR,
    n_pairs INTEGER NOT NULL,
    n_truncated INTEGER NOT NULL,
    source_kind VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    scored_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
