CREATE TABLE IF NOT EXISTS scorer_eval (
    dimension VARCHAR NOT NULL,
    scorer_kind VARCHAR NOT NULL,
    model_path VARCHAR NOT NULL,
    model_hash VARCHAR,
    dev_spearman DOUBLE,
    dev_accuracy DOUBLE,
    rows_per_second DOUBLE,
    n_train INTEGER,
    n_dev INTEGER,
    trained_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
