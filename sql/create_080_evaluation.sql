CREATE TABLE IF NOT EXISTS evaluation (
    strategy VARCHAR NOT NULL,
    benchmark VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE,
    n INTEGER,
    detail VARCHAR,
    evaluated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
