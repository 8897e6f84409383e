-- Schema 2 -> 3: row IFD: mean over turns of PPL(answer | instruction) / PPL(answer).
ALTER TABLE pool_scores ADD COLUMN IF NOT EXISTS ifd DOUBLE;
