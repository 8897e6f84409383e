SELECT dim, count(*) AS n FROM pool_embeddings WHERE spec = ? GROUP BY dim ORDER BY n DESC;
