SELECT s.row_id, s.shard, s.pick_order, s.reward, s.alpha, s.reward_source, p.turns
FROM mods_seed AS s
JOIN pool AS p ON p.shard = s.shard AND p.row_id = s.row_id
ORDER BY s.pick_order;
