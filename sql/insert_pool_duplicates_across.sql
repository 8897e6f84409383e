INSERT INTO pool_duplicates (shard, position, row_id, kind, kept_in_shard)
SELECT i.shard, i.position, i.row_id, 'across_shards', p.shard
FROM _incoming_pool AS i
JOIN pool AS p ON p.row_id = i.row_id;
