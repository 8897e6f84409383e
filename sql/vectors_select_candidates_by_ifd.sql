-- Template (`{dim}` only, see vectors_create_table.sql). Repr Filter walk by IFD (Superfiltering): rows
-- whose IFD is < 1 (ifd_status 'ok') and embedded with the given spec, held-out rows excluded; highest
-- IFD first, ties by row id.
SELECT v.embedding_rowid, s.ifd AS score
FROM pool_scores AS s
JOIN pool_vectors_{dim} AS v ON v.row_id = s.row_id AND v.shard = s.shard
WHERE v.spec = ? AND s.ifd_status = 'ok' AND s.ifd IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM eval_holdout AS h WHERE h.row_id = s.row_id)
ORDER BY s.ifd DESC, s.row_id;
