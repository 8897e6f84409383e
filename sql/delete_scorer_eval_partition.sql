DELETE FROM scorer_eval WHERE dimension = ?;
