-- Schema 2 -> 3: turns cut to the IFD model's context.
ALTER TABLE pool_scores ADD COLUMN IF NOT EXISTS ifd_truncated_turns INTEGER;
