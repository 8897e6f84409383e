SELECT strategy, base_model, n_rows, steps, final_loss, tokens_per_second, wall_seconds FROM training_runs ORDER BY strategy;
