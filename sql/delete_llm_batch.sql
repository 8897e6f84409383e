DELETE FROM llm_batches WHERE set_key = ?
