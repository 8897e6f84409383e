CREATE TABLE IF NOT EXISTS evolved_variants (
    dimension VARCHAR NOT NULL,
    seed_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    instruction VARCHAR NOT NULL,
    response VARCHAR,
    op VARCHAR,
    status VARCHAR NOT NULL,
    flags VARCHAR[],
    reason VARCHAR,
    finish_reason VARCHAR,
    backend VARCHAR,
    model VARCHAR,
    template_version VARCHAR,
    llm_request_key VARCHAR
);
