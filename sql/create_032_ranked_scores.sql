CREATE TABLE IF NOT EXISTS ranked_scores (
    dimension VARCHAR NOT NULL,
    seed_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    shown_position INTEGER,
    score DOUBLE,
    parse_status VARCHAR NOT NULL,
    reason VARCHAR,
    raw_reply VARCHAR,
    backend VARCHAR,
    model VARCHAR,
    template_version VARCHAR,
    llm_request_key VARCHAR
);
