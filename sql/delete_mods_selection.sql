DELETE FROM mods_selection;
