-- Rows of a shard already embedded with this exact embedding spec (reused instead of re-embedded).
SELECT shard, row_id, model, spec, dim, truncated, embedding FROM pool_embeddings WHERE shard = ? AND spec = ?;
