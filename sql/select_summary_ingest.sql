-- Whole-pool accounting for the quick start's end summary: rows in = kept + quarantined + duplicates.
SELECT
    count(*) AS shards,
    coalesce(sum(rows_read), 0) AS rows_read,
    coalesce(sum(rows_kept), 0) AS rows_kept,
    coalesce(sum(rows_quarantined), 0) AS rows_quarantined,
    coalesce(sum(duplicates_within_shard + duplicates_across_shards), 0) AS duplicates
FROM ingest_stats;
