-- Duplicates: within a shard (stored by the shard) and across shards (a shard's row held by another).
SELECT shard, position, row_id, kind, kept_in_shard FROM stored.pool_duplicates
UNION ALL
SELECT p.shard, p.position, p.row_id, 'across_shards' AS kind, k.shard AS kept_in_shard
FROM stored.pool AS p
JOIN main.pool AS k ON k.row_id = p.row_id AND k.shard <> p.shard
