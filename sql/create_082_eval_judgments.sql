CREATE TABLE IF NOT EXISTS eval_judgments (
    strategy VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    score DOUBLE,
    verdict VARCHAR,
    parse_status VARCHAR NOT NULL,
    error_kind VARCHAR,
    raw_reply VARCHAR,
    backend VARCHAR,
    judge_model VARCHAR,
    llm_request_key VARCHAR,
    judged_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
