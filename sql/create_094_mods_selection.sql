CREATE TABLE IF NOT EXISTS mods_selection (
    row_id VARCHAR NOT NULL,
    examined_order INTEGER NOT NULL,
    score DOUBLE,
    kept BOOLEAN NOT NULL,
    reason VARCHAR NOT NULL,
    nearest_row_id VARCHAR,
    nearest_sim DOUBLE
);
