-- Every pool row a strategy may pick (held-out rows excluded), with what the strategies order by.
SELECT p.row_id, p.shard, p.source,
       coalesce(list_sum(list_transform(list_filter(p.turns, lambda t: t.role = 'assistant'),
                                        lambda t: length(t.content))), 0) AS response_chars,
       s.status = 'ok' AND s.evol_score IS NOT NULL AS scored,
       s.evol_score, list_sum(s.complexity) AS complexity, list_sum(s.quality) AS quality
FROM pool AS p
LEFT JOIN pool_scores AS s ON s.row_id = p.row_id
WHERE NOT EXISTS (SELECT 1 FROM eval_holdout AS h WHERE h.row_id = p.row_id)
ORDER BY p.row_id;
