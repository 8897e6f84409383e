SELECT row_id, source, turns[1].content AS instruction, turns[2].content AS response
FROM pool
WHERE row_id IN (SELECT unnest(?::VARCHAR[]))
