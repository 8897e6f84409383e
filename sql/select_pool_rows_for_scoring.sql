SELECT row_id, source, turns
FROM pool
WHERE shard = ?
ORDER BY position;
