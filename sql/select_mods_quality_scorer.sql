SELECT model_path, model_hash FROM scorer_eval WHERE dimension = ? ORDER BY trained_at DESC LIMIT 1;
