SELECT row_id, source, turns
FROM pool
WHERE list_contains(?::VARCHAR[], source) AND n_turns = 2
ORDER BY row_id;
