-- Every stored vector of one width, in a fixed order: compares a fan-out run with a single-process one.
SELECT * EXCLUDE (embedding_rowid) FROM pool_vectors_{dim} ORDER BY shard, row_id, spec;
