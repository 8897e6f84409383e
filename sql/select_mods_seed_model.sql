SELECT model_path, base_model, steps FROM mods_seed_model;
