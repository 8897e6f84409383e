SELECT row_id, benchmark, prompt, reference FROM eval_holdout ORDER BY benchmark, row_id;
