SELECT * FROM mods_selection ORDER BY examined_order;
