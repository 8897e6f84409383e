-- Schema 2 -> 3: ok (IFD < 1) | at_least_one (the instruction does not help) | failed; NULL = not computed.
ALTER TABLE pool_scores ADD COLUMN IF NOT EXISTS ifd_status VARCHAR;
