CREATE TABLE IF NOT EXISTS mods_necessity (
    row_id VARCHAR NOT NULL,
    shard VARCHAR NOT NULL,
    reward DOUBLE NOT NULL,
    instruction VARCHAR NOT NULL,
    generated VARCHAR,
    own_reward DOUBLE,
    status VARCHAR NOT NULL,
    necessary BOOLEAN NOT NULL,
    augmented BOOLEAN NOT NULL,
    pick_order INTEGER,
    pick_distance DOUBLE,
    nearest_row_id VARCHAR,
    nearest_sim DOUBLE,
    beta DOUBLE NOT NULL
);
