SELECT s.strategy, s.row_id, t.content AS prompt
FROM (SELECT p.row_id, unnest(p.turns) AS t FROM pool p) u
JOIN selection s ON s.row_id = u.row_id AND s.kept
WHERE u.t.role = 'user';
