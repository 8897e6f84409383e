-- Template (vectors_*.sql): `{dim}` is the ONLY substitution, a positive int validated by
-- deita_assets.sql.load_sql_for_dim; values still travel as `?` parameters. Why a table per width: a
-- fixed-size FLOAT[d] ARRAY needs d in the DDL, and it scans/decodes 4-7x faster than a FLOAT[] LIST
-- (the Repr Filter's window fetch was bound by LIST decoding). Created on demand, idempotent.
CREATE TABLE IF NOT EXISTS pool_vectors_{dim} (
    shard VARCHAR NOT NULL,
    row_id VARCHAR NOT NULL,
    spec VARCHAR NOT NULL,
    embedding FLOAT[{dim}] NOT NULL
);
