-- Template (`{dim}` only, see vectors_create_table.sql). A reproducible sample of pool rows embedded
-- with the spec (ordered by a hash of the row id, not by shard or score), with their turns, for τ
-- calibration; held-out rows excluded like every selection input.
SELECT v.row_id, p.turns, v.embedding
FROM pool_vectors_{dim} AS v
JOIN pool AS p ON p.row_id = v.row_id AND p.shard = v.shard
WHERE v.spec = ?
  AND NOT EXISTS (SELECT 1 FROM eval_holdout AS h WHERE h.row_id = v.row_id)
ORDER BY md5(v.row_id)
LIMIT ?;
