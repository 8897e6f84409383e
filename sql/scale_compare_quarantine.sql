-- Every row of quarantine without its timestamp: compares a fan-out run with a single-process one.
SELECT * EXCLUDE (quarantined_at) FROM quarantine ORDER BY ALL;
