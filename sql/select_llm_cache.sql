SELECT request_key, backend, model, response_text, finish_reason, prompt_tokens, completion_tokens, logprobs_json
FROM llm_cache
WHERE request_key IN (SELECT unnest(?::VARCHAR[]))
