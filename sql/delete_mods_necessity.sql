DELETE FROM mods_necessity;
