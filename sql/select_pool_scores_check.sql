SELECT
    (SELECT count(*) FROM pool AS p WHERE p.shard = $shard
        AND NOT EXISTS (SELECT 1 FROM pool_scores AS s WHERE s.shard = $shard AND s.row_id = p.row_id)) AS missing,
    (SELECT count(*) FROM pool_scores AS s WHERE s.shard = $shard
        AND NOT EXISTS (SELECT 1 FROM pool AS p WHERE p.shard = $shard AND p.row_id = s.row_id)) AS orphaned,
    (SELECT count(*) FROM pool_scores WHERE shard = $shard
        AND status = 'failed' AND failure_reason IS NULL) AS failed_without_reason,
    (SELECT count(*) FROM pool_scores WHERE shard = $shard
        AND (ifd_status IN ('failed', 'at_least_one') AND ifd_reason IS NULL
             OR ifd_status IN ('ok', 'at_least_one') AND (ifd IS NULL OR ifd <= 0))) AS ifd_unexplained,
    (SELECT count(*) FROM pool_scores WHERE shard = $shard
        AND status = 'ok' AND (evol_score IS NULL OR len(complexity) <> n_turns)) AS ok_without_score,
    (SELECT count(*) FROM pool_scores WHERE shard = $shard AND status = 'ok'
        AND (list_min(complexity) < 1 - 1e-9 OR list_max(complexity) > 6 + 1e-9
             OR list_min(quality) < 1 - 1e-9 OR list_max(quality) > 6 + 1e-9
             OR evol_score < (CASE WHEN aggregate = 'sum' THEN n_turns ELSE 1 END) - 1e-9
             OR evol_score > (CASE WHEN aggregate = 'sum' THEN 36 * n_turns ELSE 36 END) + 1e-9)
    ) AS out_of_range,
    (SELECT count(*) FROM pool_scores WHERE shard = $shard) AS rows_scored;
