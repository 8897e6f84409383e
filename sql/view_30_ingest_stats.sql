-- Per-shard ingest counts: what the shard read alone, plus how many of its distinct rows it holds
-- (rows_kept) and how many another shard holds (duplicates_across_shards).
SELECT s.shard, s.source, s.source_file, s.content_hash, s.container, s.rows_read,
       coalesce(k.n, 0) AS rows_kept, s.rows_quarantined, s.duplicates_within_shard,
       s.rows_unique - coalesce(k.n, 0) AS duplicates_across_shards, s.empty_turns_dropped, s.ingested_at
FROM stored.ingest_stats AS s
LEFT JOIN (SELECT shard, count(*) AS n FROM main.pool GROUP BY shard) AS k ON k.shard = s.shard
