DELETE FROM ranked_scores WHERE dimension = ?
