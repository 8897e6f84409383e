DELETE FROM mods_seed_model;
