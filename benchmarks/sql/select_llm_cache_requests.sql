SELECT request_json, response_text FROM llm_cache ORDER BY created_at, request_key;
