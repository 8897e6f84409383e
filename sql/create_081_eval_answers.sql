CREATE TABLE IF NOT EXISTS eval_answers (
    strategy VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    turn INTEGER NOT NULL,
    question VARCHAR NOT NULL,
    answer VARCHAR NOT NULL,
    model_path VARCHAR NOT NULL,
    generated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
