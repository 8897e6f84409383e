-- Template (`{table}`: a checked identifier). A per-shard table without the rows another shard holds
-- in pool: when a smaller shard key later ingests the same row, the older shard's copy stops counting.
SELECT t.*
FROM stored.{table} AS t
WHERE NOT EXISTS (SELECT 1 FROM main.pool AS p WHERE p.row_id = t.row_id AND p.shard <> t.shard)
