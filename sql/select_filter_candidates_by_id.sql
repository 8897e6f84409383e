-- Repr Filter walk without scores (diversity_only): embedded rows, held-out rows excluded, in row id order (the caller permutes with the seed).
SELECT e.rowid AS embedding_rowid
FROM pool_embeddings AS e
WHERE e.spec = ?
  AND NOT EXISTS (SELECT 1 FROM eval_holdout AS h WHERE h.row_id = e.row_id)
ORDER BY e.row_id;
