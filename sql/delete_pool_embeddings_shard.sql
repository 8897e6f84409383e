DELETE FROM pool_embeddings WHERE shard = ?;
