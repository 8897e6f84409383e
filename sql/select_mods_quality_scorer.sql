SELECT model_path, model_hash FROM scorer_eval
WHERE dimension = ? AND scorer_kind IN ('lm', 'pretrained')
ORDER BY trained_at DESC LIMIT 1;
