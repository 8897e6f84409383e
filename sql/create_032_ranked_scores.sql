CREATE TABLE IF NOT EXISTS ranked_scores (
    dimension VARCHAR NOT NULL,
    seed_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    score DOUBLE,
    parse_status VARCHAR NOT NULL,
    raw_reply VARCHAR,
    backend VARCHAR,
    model VARCHAR,
    llm_request_key VARCHAR
);
