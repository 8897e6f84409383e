-- Every row of pool without its timestamp: compares a fan-out run with a single-process one.
SELECT * EXCLUDE (ingested_at) FROM pool ORDER BY ALL;
