-- Template (`{dim}` only, see vectors_create_table.sql). One window of the walk: vectors of the given
-- physical rows (the window's rows are spread over the table, so this is one scan of the column).
SELECT v.embedding_rowid, v.row_id, v.embedding
FROM pool_vectors_{dim} AS v
WHERE v.embedding_rowid IN (SELECT unnest(?::BIGINT[]));
