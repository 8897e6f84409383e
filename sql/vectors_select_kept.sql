-- Template (`{dim}` only, see vectors_create_table.sql). The kept rows' vectors, read back from the
-- store for the independent near-duplicate check.
SELECT v.row_id, v.embedding
FROM selection AS s
JOIN pool_vectors_{dim} AS v ON v.row_id = s.row_id AND v.spec = ?
WHERE s.strategy = ? AND s.kept
ORDER BY s.kept_rank;
