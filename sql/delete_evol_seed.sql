DELETE FROM evol_seed
