CREATE TABLE IF NOT EXISTS pool_embeddings (
    shard VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    dim INTEGER NOT NULL,
    truncated BOOLEAN NOT NULL,
    embedding FLOAT[] NOT NULL,
    embedded_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
