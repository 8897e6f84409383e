CREATE TABLE IF NOT EXISTS llm_batches (
    set_key VARCHAR PRIMARY KEY,
    batch_id VARCHAR NOT NULL,
    input_file_id VARCHAR NOT NULL,
    backend VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    submitted_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
