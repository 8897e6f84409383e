DELETE FROM training_runs WHERE strategy = ?;
