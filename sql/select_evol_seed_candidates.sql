SELECT row_id, source
FROM pool
WHERE n_turns = 2
  AND turns[1].role = 'user'
  AND turns[2].role = 'assistant'
  AND length(turns[1].content) BETWEEN ? AND ?
  AND length(turns[2].content) BETWEEN ? AND ?
