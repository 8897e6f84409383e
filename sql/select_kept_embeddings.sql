-- The kept rows' vectors, read back from pool_embeddings for the independent near-duplicate check.
SELECT e.row_id, e.embedding
FROM selection AS s
JOIN pool_embeddings AS e ON e.row_id = s.row_id AND e.spec = ?
WHERE s.strategy = ? AND s.kept
ORDER BY s.kept_rank;
