SELECT s.row_id, p.turns, h.row_id IS NOT NULL AS held_out
FROM selection s
LEFT JOIN pool p ON p.row_id = s.row_id
LEFT JOIN (SELECT DISTINCT row_id FROM eval_holdout) h ON h.row_id = s.row_id
WHERE s.strategy = ? AND s.kept
ORDER BY s.examined_order;
