SELECT dimension, scorer_kind, model_path, model_hash, embedder, template_fingerprint, dev_spearman, rows_per_second
FROM scorer_eval
ORDER BY dimension, scorer_kind;
