CREATE TABLE IF NOT EXISTS evolved_variants (
    dimension VARCHAR NOT NULL,
    seed_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    instruction VARCHAR NOT NULL,
    response VARCHAR NOT NULL,
    op VARCHAR,
    status VARCHAR NOT NULL,
    flags VARCHAR[],
    backend VARCHAR,
    model VARCHAR,
    llm_request_key VARCHAR
);
