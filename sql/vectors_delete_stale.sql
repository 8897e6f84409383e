-- Template (`{dim}` only, see vectors_create_table.sql): vectors of (shard, spec) no longer in the shard.
DELETE FROM pool_vectors_{dim} WHERE shard = ? AND spec = ? AND row_id NOT IN (SELECT unnest(?::VARCHAR[]));
