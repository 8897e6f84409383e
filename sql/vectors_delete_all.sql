-- Template (`{dim}` only, see vectors_create_table.sql): empty a width's vector table (benchmarks).
DELETE FROM pool_vectors_{dim};
