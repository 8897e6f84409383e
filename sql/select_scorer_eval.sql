SELECT dimension, scorer_kind, model_path, model_hash, embedder, template_fingerprint, dev_spearman, rows_per_second, n_train
FROM scorer_eval
ORDER BY dimension, scorer_kind;
