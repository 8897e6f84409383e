-- Rows of (shard, spec) no longer in the shard; other specs' rows stay.
DELETE FROM pool_embeddings WHERE shard = ? AND spec = ? AND row_id NOT IN (SELECT unnest(?::VARCHAR[]));
