-- Every row of ingest_stats without its timestamp: compares a fan-out run with a single-process one.
SELECT * EXCLUDE (ingested_at) FROM ingest_stats ORDER BY ALL;
