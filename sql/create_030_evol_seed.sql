CREATE TABLE IF NOT EXISTS evol_seed (
    seed_id INTEGER NOT NULL,
    row_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    instruction VARCHAR NOT NULL,
    response VARCHAR NOT NULL,
    sample_seed INTEGER NOT NULL
);
