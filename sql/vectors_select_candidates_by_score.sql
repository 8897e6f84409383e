-- Template (`{dim}` only, see vectors_create_table.sql). Repr Filter walk for a score strategy: rows
-- scored ok and embedded with the given spec, held-out rows excluded; best first, ties by row id.
SELECT v.embedding_rowid, s.evol_score AS score
FROM pool_scores AS s
JOIN pool_vectors_{dim} AS v ON v.row_id = s.row_id AND v.shard = s.shard
WHERE v.spec = ? AND s.status = 'ok' AND s.evol_score IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM eval_holdout AS h WHERE h.row_id = s.row_id)
ORDER BY s.evol_score DESC, s.row_id;
