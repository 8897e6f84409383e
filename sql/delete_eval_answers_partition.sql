DELETE FROM eval_answers WHERE strategy = ?;
