SELECT batch_id FROM llm_batches WHERE set_key = ?
