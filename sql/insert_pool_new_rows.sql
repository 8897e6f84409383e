INSERT INTO pool (shard, row_id, source, source_file, position, format, turns, n_turns, n_chars)
SELECT i.shard, i.row_id, i.source, i.source_file, i.position, i.format, i.turns, i.n_turns, i.n_chars
FROM _incoming_pool AS i
WHERE NOT EXISTS (SELECT 1 FROM pool AS p WHERE p.row_id = i.row_id)
ORDER BY i.position;
