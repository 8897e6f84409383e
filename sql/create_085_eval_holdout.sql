CREATE TABLE IF NOT EXISTS eval_holdout (
    row_id VARCHAR NOT NULL,
    benchmark VARCHAR NOT NULL,
    prompt VARCHAR NOT NULL,
    reference VARCHAR
);
