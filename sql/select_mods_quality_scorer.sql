SELECT model_path, model_hash, scorer_kind, template_fingerprint
FROM scorer_eval
WHERE dimension = ? AND list_contains(?, scorer_kind)
ORDER BY trained_at DESC
LIMIT 1;
