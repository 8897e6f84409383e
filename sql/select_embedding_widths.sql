-- Every vector width stored in pool_embeddings.
SELECT DISTINCT dim FROM pool_embeddings ORDER BY dim;
