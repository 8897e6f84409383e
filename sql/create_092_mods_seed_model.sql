-- The seed model's run, in exactly the shape of training_runs (strategy = 'mods_seed'); one row.
CREATE TABLE IF NOT EXISTS mods_seed_model AS SELECT * FROM training_runs LIMIT 0;
