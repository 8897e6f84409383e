SELECT seed_id, round, shown_position, score, parse_status, reason
FROM ranked_scores
WHERE dimension = ?
ORDER BY seed_id, round
