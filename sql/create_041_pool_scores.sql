CREATE TABLE IF NOT EXISTS pool_scores (
    shard VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    complexity DOUBLE[],
    quality DOUBLE[],
    evol_score DOUBLE,
    status VARCHAR NOT NULL,
    failure_reason VARCHAR,
    scorer VARCHAR NOT NULL
);
