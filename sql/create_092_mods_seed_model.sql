CREATE TABLE IF NOT EXISTS mods_seed_model (
    strategy VARCHAR NOT NULL,
    base_model VARCHAR NOT NULL,
    model_path VARCHAR NOT NULL,
    n_rows INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    final_loss DOUBLE,
    tokens_per_second DOUBLE,
    wall_seconds DOUBLE,
    config_json VARCHAR,
    trained_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
