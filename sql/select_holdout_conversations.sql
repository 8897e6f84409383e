SELECT DISTINCT h.row_id, p.turns
FROM eval_holdout h
JOIN pool p ON p.row_id = h.row_id
WHERE h.benchmark = ?
ORDER BY h.row_id;
