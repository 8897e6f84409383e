SELECT source, count(*) AS rows FROM pool GROUP BY source ORDER BY rows DESC, source;
