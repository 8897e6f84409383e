-- Template (`{dim}` only, see vectors_create_table.sql): the vectors of given rows of one (shard, spec)
-- partition, kept when the partition is rewritten.
SELECT shard, row_id, spec, embedding
FROM pool_vectors_{dim}
WHERE shard = ? AND spec = ? AND row_id IN (SELECT unnest(?::VARCHAR[]))
ORDER BY row_id;
