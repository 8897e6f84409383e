-- The cache is append-only (one file per batch, from any number of runs): the latest reply per
-- request key wins (a re-asked reply replaces a rejected one); ties broken by the text, so fixed.
SELECT *
FROM stored.llm_cache
QUALIFY row_number() OVER (PARTITION BY request_key ORDER BY created_at DESC, response_text DESC NULLS LAST) = 1
