-- Last step of moving schema-1 vectors out (after they were copied to pool_vectors_<dim>).
ALTER TABLE pool_embeddings DROP COLUMN embedding;
