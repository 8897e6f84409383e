SELECT count(*) FROM pool_duplicates WHERE shard = ? AND kind = 'across_shards';
