SELECT r.seed_id, r.round, r.score, r.parse_status, v.instruction, v.response, v.status AS variant_status
FROM ranked_scores AS r
JOIN evolved_variants AS v ON v.dimension = r.dimension AND v.seed_id = r.seed_id AND v.round = r.round
WHERE r.dimension = ?
ORDER BY r.seed_id, r.round;
