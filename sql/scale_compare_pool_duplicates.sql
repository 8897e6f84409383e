-- Every row of pool_duplicates without its timestamp: compares a fan-out run with a single-process one.
SELECT * FROM pool_duplicates ORDER BY ALL;
