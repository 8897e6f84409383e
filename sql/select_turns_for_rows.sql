SELECT row_id, source, turns FROM pool WHERE row_id IN (SELECT unnest(?::VARCHAR[]));
