SELECT seed_id, round, instruction, response, op, status, flags, reason
FROM evolved_variants
WHERE dimension = ?
ORDER BY seed_id, round
