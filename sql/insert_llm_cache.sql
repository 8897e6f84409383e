INSERT INTO llm_cache (
    request_key, backend, model, template_version, request_json,
    response_text, finish_reason, prompt_tokens, completion_tokens, logprobs_json
)
SELECT
    request_key, backend, model, template_version, request_json,
    response_text, finish_reason, prompt_tokens, completion_tokens, logprobs_json
FROM _incoming_llm_cache
ON CONFLICT DO NOTHING
