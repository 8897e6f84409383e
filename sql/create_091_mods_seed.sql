CREATE TABLE IF NOT EXISTS mods_seed (
    row_id VARCHAR NOT NULL,
    shard VARCHAR NOT NULL,
    pick_order INTEGER NOT NULL,
    reward DOUBLE NOT NULL,
    pick_distance DOUBLE,
    instruction VARCHAR NOT NULL,
    alpha DOUBLE NOT NULL,
    reward_source VARCHAR NOT NULL,
    embedder VARCHAR NOT NULL,
    k_requested INTEGER NOT NULL
);
