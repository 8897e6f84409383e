DELETE FROM reward_scores WHERE shard = ?;
