-- Template (`{dim}` only, see vectors_create_table.sql): move schema-1 FLOAT[] vectors of one width
-- into pool_vectors_{dim} (the cast checks every vector has exactly {dim} values).
INSERT INTO pool_vectors_{dim} (shard, row_id, spec, embedding)
SELECT shard, row_id, spec, embedding::FLOAT[{dim}] FROM pool_embeddings WHERE dim = ?;
