-- Every pool row a strategy may pick (held-out rows excluded), with what the strategies order by;
-- for the IFD strategies, whether a row competes (IFD < 1) and, if not, why (ifd_excluded + detail).
SELECT p.row_id, p.shard, p.source,
       coalesce(list_sum(list_transform(list_filter(p.turns, lambda t: t.role = 'assistant'),
                                        lambda t: length(t.content))), 0) AS response_chars,
       s.status = 'ok' AND s.evol_score IS NOT NULL AS scored,
       s.evol_score, list_sum(s.complexity) AS complexity, list_sum(s.quality) AS quality,
       s.ifd, coalesce(s.ifd_status = 'ok', false) AS ifd_eligible,
       CASE WHEN s.ifd_status = 'ok' THEN NULL
            WHEN s.ifd_status = 'at_least_one' THEN 'ifd_at_least_one'
            WHEN s.ifd_status = 'failed' THEN 'ifd_failed'
            ELSE 'ifd_not_computed' END AS ifd_excluded,
       s.ifd_reason AS ifd_excluded_detail
FROM pool AS p
LEFT JOIN pool_scores AS s ON s.row_id = p.row_id
WHERE NOT EXISTS (SELECT 1 FROM eval_holdout AS h WHERE h.row_id = p.row_id)
ORDER BY p.row_id;
