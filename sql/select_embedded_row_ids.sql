-- Rows of a shard already embedded with this exact embedding spec (reused instead of re-embedded).
SELECT row_id FROM pool_embeddings WHERE shard = ? AND spec = ?;
