SELECT DISTINCT input_fingerprint
FROM pool_scores
WHERE shard = ?;
