CREATE TABLE IF NOT EXISTS llm_cache (
    request_key VARCHAR PRIMARY KEY,
    backend VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    template_version VARCHAR NOT NULL,
    request_json VARCHAR NOT NULL,
    response_text VARCHAR,
    finish_reason VARCHAR,
    prompt_tokens BIGINT,
    completion_tokens BIGINT,
    logprobs_json VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
