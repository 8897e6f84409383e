DELETE FROM eval_holdout;
