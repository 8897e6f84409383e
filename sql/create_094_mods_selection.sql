-- MoDS's final selection in exactly the shape of `selection` (minus strategy), for selected_subset[mods].
CREATE TABLE IF NOT EXISTS mods_selection AS SELECT * EXCLUDE (strategy) FROM selection LIMIT 0;
