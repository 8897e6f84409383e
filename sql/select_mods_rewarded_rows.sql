SELECT r.shard, r.row_id, r.reward, r.status, r.source_kind, r.source, p.turns
FROM reward_scores AS r
JOIN pool AS p ON p.shard = r.shard AND p.row_id = r.row_id
ORDER BY r.row_id, r.shard;
