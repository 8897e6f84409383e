-- pool: every row id once, held by the smallest shard key that ingested it. Shards store all their
-- distinct rows (stored.pool), so the holder does not depend on the order shards were written in.
SELECT p.*
FROM stored.pool AS p
WHERE NOT EXISTS (SELECT 1 FROM stored.pool AS q WHERE q.row_id = p.row_id AND q.shard < p.shard)
