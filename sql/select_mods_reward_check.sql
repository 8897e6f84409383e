SELECT
    count(*) FILTER (
        WHERE (status = 'ok' AND (reward IS NULL OR isnan(reward)))
           OR (status <> 'ok' AND failure_reason IS NULL)
    ) AS bad_rows,
    count(*) - count(DISTINCT (shard, row_id)) AS duplicates,
    count(DISTINCT source_kind) AS source_kinds
FROM reward_scores;
