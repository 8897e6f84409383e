SELECT seed_id, row_id, source, instruction, response FROM evol_seed ORDER BY seed_id
