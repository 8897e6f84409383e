-- Rows embedded per embedding spec, for the quick start's end summary.
SELECT spec, count(*) AS n FROM pool_embeddings GROUP BY spec ORDER BY spec;
