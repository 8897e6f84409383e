-- Every row of pool_embeddings without its timestamp: compares a fan-out run with a single-process one.
SELECT * EXCLUDE (embedded_at) FROM pool_embeddings ORDER BY ALL;
