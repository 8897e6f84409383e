CREATE TABLE IF NOT EXISTS mods_seed_model (
    model_path VARCHAR NOT NULL,
    base_model VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    n_rows INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    final_loss DOUBLE,
    wall_seconds DOUBLE,
    config_json VARCHAR NOT NULL,
    trained_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
