-- The Repr Filter's τ per embedding spec, calibrated once on a pool sample against the reference
-- model at its τ (deita_assets/core/tau_calibration.py): the statistics it rests on, how many rows.
CREATE TABLE IF NOT EXISTS embedding_calibration (
    spec VARCHAR NOT NULL,
    reference_spec VARCHAR NOT NULL,
    reference_tau DOUBLE NOT NULL,
    tau DOUBLE NOT NULL,
    rule VARCHAR NOT NULL,
    sample_rows INTEGER NOT NULL,
    reference_nn_mean DOUBLE NOT NULL,
    reference_nn_sd DOUBLE NOT NULL,
    nn_mean DOUBLE NOT NULL,
    nn_sd DOUBLE NOT NULL,
    calibrated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
