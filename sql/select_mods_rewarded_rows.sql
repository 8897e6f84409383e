-- Rewarded pool rows MoDS may pick: held-out evaluation rows are excluded, as for every strategy.
SELECT r.shard, r.row_id, r.reward, r.status, r.source_kind, r.source, p.turns
FROM reward_scores AS r
JOIN pool AS p ON p.shard = r.shard AND p.row_id = r.row_id
WHERE NOT EXISTS (SELECT 1 FROM eval_holdout AS h WHERE h.row_id = r.row_id)
ORDER BY r.row_id, r.shard;
