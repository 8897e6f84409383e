-- The first calibration stored for (spec, reference spec, reference τ): a selection rerun reuses it,
-- so the τ of a spec does not drift as the pool grows.
SELECT reference_tau, tau, rule, sample_rows, reference_nn_mean, reference_nn_sd, nn_mean, nn_sd
FROM embedding_calibration
WHERE spec = ? AND reference_spec = ? AND reference_tau = ?
ORDER BY calibrated_at, tau
LIMIT 1;
