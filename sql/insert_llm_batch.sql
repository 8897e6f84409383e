INSERT INTO llm_batches (set_key, batch_id, input_file_id, backend, model)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (set_key) DO UPDATE SET
    batch_id = excluded.batch_id,
    input_file_id = excluded.input_file_id,
    submitted_at = excluded.submitted_at
