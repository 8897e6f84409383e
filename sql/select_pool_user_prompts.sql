SELECT row_id, t.content AS prompt
FROM (SELECT row_id, unnest(turns) AS t FROM pool)
WHERE t.role = 'user';
