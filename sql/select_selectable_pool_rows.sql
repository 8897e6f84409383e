SELECT p.row_id,
       list_sum([length(t.content) FOR t IN p.turns IF t.role = 'assistant']) AS assistant_chars
FROM pool p
WHERE p.row_id NOT IN (SELECT row_id FROM eval_holdout)
ORDER BY p.row_id;
