CREATE TABLE IF NOT EXISTS selection (
    strategy VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    examined_order INTEGER NOT NULL,
    score DOUBLE,
    kept BOOLEAN NOT NULL,
    kept_rank INTEGER,
    reason VARCHAR NOT NULL,
    nearest_row_id VARCHAR,
    nearest_sim DOUBLE,
    detail VARCHAR
);
