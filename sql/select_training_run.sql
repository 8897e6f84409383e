SELECT * FROM training_runs WHERE strategy = ? ORDER BY trained_at DESC LIMIT 1;
