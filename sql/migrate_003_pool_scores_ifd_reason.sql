-- Schema 2 -> 3: why IFD failed, or which turns were >= 1.
ALTER TABLE pool_scores ADD COLUMN IF NOT EXISTS ifd_reason VARCHAR;
