-- What pool_embeddings holds for one (shard, spec) partition, without timestamps (a rewrite re-stamps).
SELECT shard, row_id, model, spec, dim, truncated
FROM pool_embeddings
WHERE shard = ? AND spec = ? AND row_id IN (SELECT unnest(?::VARCHAR[]))
ORDER BY row_id;
