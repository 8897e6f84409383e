-- One row per (shard, row, embedding spec): which model embedded it, the width, truncation. The vectors
-- themselves live in pool_vectors_<dim> (sql/vectors_create_table.sql), one fixed-width table per dim.
-- Rows of several specs coexist: switching the embedder back reuses what was stored.
CREATE TABLE IF NOT EXISTS pool_embeddings (
    shard VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    dim INTEGER NOT NULL,
    truncated BOOLEAN NOT NULL,
    embedded_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
