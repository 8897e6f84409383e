-- Schema-1 stores kept vectors in a FLOAT[] `embedding` column of pool_embeddings (moved by the store).
SELECT count(*) AS n FROM information_schema.columns
WHERE table_name = 'pool_embeddings' AND column_name = 'embedding';
