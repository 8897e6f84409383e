DELETE FROM mods_seed;
