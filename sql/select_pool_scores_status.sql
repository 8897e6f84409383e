-- Pool rows by scoring status and failure reason, over every shard (benchmark summary).
SELECT status, failure_reason, count(*) AS n FROM pool_scores GROUP BY status, failure_reason ORDER BY n DESC;
