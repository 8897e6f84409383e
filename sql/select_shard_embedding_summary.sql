-- What a shard holds after pool_embeddings ran for a spec: rows, truncated rows and widths of that spec,
-- and how many rows of other specs are kept alongside (never silently dropped).
SELECT
    count(*) FILTER (WHERE spec = ?2) AS n,
    coalesce(sum(truncated::INTEGER) FILTER (WHERE spec = ?2), 0) AS truncated,
    coalesce(list_sort(list_distinct(list(dim) FILTER (WHERE spec = ?2))), []) AS dims,
    count(*) FILTER (WHERE spec <> ?2) AS other_specs
FROM pool_embeddings
WHERE shard = ?1;
