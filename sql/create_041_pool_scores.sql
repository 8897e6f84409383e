CREATE TABLE IF NOT EXISTS pool_scores (
    shard VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    source VARCHAR,
    n_turns INTEGER,
    complexity DOUBLE[],
    quality DOUBLE[],
    evol_score DOUBLE,
    aggregate VARCHAR,
    status VARCHAR NOT NULL,
    failure_reason VARCHAR,
    truncated_turns INTEGER,
    scorer VARCHAR NOT NULL,
    scorer_kind VARCHAR,
    input_fingerprint VARCHAR,
    scored_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
