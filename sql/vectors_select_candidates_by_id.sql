-- Template (`{dim}` only, see vectors_create_table.sql). Repr Filter walk without scores
-- (diversity_only): embedded rows, held-out rows excluded, in row id order (the caller permutes).
SELECT v.embedding_rowid
FROM pool_vectors_{dim} AS v
WHERE v.spec = ?
  AND NOT EXISTS (SELECT 1 FROM eval_holdout AS h WHERE h.row_id = v.row_id)
ORDER BY v.row_id;
