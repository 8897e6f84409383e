-- One window of the walk: embeddings of the given physical rows (one scan; DuckDB has no cheap point lookups).
SELECT e.rowid AS embedding_rowid, e.row_id, e.embedding
FROM pool_embeddings AS e
WHERE e.rowid IN (SELECT unnest(?::BIGINT[]));
