DELETE FROM eval_judgments WHERE strategy = ?;
