SELECT source, count(*) AS n FROM pool GROUP BY source ORDER BY n DESC;
