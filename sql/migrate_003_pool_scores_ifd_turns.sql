-- Schema 2 -> 3: IFD per (user, assistant) turn.
ALTER TABLE pool_scores ADD COLUMN IF NOT EXISTS ifd_turns DOUBLE[];
