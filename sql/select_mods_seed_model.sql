SELECT model_path, fingerprint FROM mods_seed_model ORDER BY trained_at DESC LIMIT 1;
