CREATE TABLE IF NOT EXISTS pool_scores (
    shard VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    source VARCHAR,
    n_turns INTEGER NOT NULL,
    complexity DOUBLE[],
    quality DOUBLE[],
    evol_score DOUBLE,
    aggregate VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    failure_reason VARCHAR,
    truncated_turns INTEGER NOT NULL DEFAULT 0,
    scorer VARCHAR NOT NULL,
    scorer_kind VARCHAR NOT NULL,
    input_fingerprint VARCHAR NOT NULL,
    scored_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
