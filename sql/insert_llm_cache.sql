INSERT INTO llm_cache (
    request_key, backend, model, template_version, request_json,
    response_text, finish_reason, prompt_tokens, completion_tokens, logprobs_json
)
SELECT
    request_key, backend, model, template_version, request_json,
    response_text, finish_reason, prompt_tokens, completion_tokens, logprobs_json
FROM _incoming_llm_cache
ON CONFLICT (request_key) DO UPDATE SET
    response_text = excluded.response_text,
    finish_reason = excluded.finish_reason,
    prompt_tokens = excluded.prompt_tokens,
    completion_tokens = excluded.completion_tokens,
    logprobs_json = excluded.logprobs_json
