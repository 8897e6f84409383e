"""The Repr Filter's τ per embedding model: the same closeness, not the same number.

Why: cosines are not comparable across models. E5 crowds them high (mean nearest-neighbour cosine
0.88 on 512 Alpaca rows, against 0.51 for all-MiniLM-L6-v2), so τ = 0.9 — the paper's value, kept as
the reference on MiniLM — would call most E5 rows near-duplicates of each other.

Rule: embed one sample of the pool with both the reference model and the model in use; take each
row's nearest-neighbour cosine inside the sample (what the filter compares with τ) and map τ_ref by
matching the two distributions' mean and standard deviation:

    τ = μ + σ · (τ_ref − μ_ref) / σ_ref

Why not match quantiles (the share of near-duplicate pairs) directly: at τ_ref = 0.9 MiniLM finds no
near-duplicate pair at all among 512 Alpaca rows (130,816 pairs), so the quantile is undefined there
exactly where it is needed; mean and sd use every row. Where both have support (τ_ref 0.7 / 0.8) the
affine map keeps about as many rows with a neighbour above τ as the reference does (40 vs 37, 8 vs
10 of 512). The map is monotone, so a τ sweep maps through it too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

RULE = "nn_cosine_mean_sd_match"


@dataclass(frozen=True)
class TauCalibration:
    """τ for one model from τ_ref on the reference model, and the statistics it rests on."""

    reference_tau: float
    tau: float
    sample_rows: int
    reference_nn_mean: float
    reference_nn_sd: float
    nn_mean: float
    nn_sd: float
    rule: str = RULE

    def map(self, reference_tau: float) -> float:
        """This model's τ for any reference τ (the same affine map)."""
        scale = self.nn_sd / self.reference_nn_sd
        return self.nn_mean + scale * (reference_tau - self.reference_nn_mean)

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def nearest_neighbour_cosines(vectors: np.ndarray) -> np.ndarray:
    """Each row's largest cosine to another row of the sample (rows are unit vectors)."""
    unit = np.asarray(vectors, dtype=np.float64)
    gram = unit @ unit.T
    np.fill_diagonal(gram, -np.inf)
    return gram.max(axis=1)


def calibrate_tau(reference_vectors: np.ndarray, vectors: np.ndarray, reference_tau: float) -> TauCalibration:
    """τ for `vectors`' model from τ_ref on the reference model, both embedding the same rows."""
    if len(reference_vectors) != len(vectors):
        raise ValueError(f"the two samples differ: {len(reference_vectors)} vs {len(vectors)} rows")
    if len(vectors) < 3:
        raise ValueError(f"τ calibration needs at least 3 rows, got {len(vectors)}")
    reference, target = nearest_neighbour_cosines(reference_vectors), nearest_neighbour_cosines(vectors)
    spread = float(reference.std()), float(target.std())
    if min(spread) <= 0:
        raise ValueError("τ calibration needs rows at different distances (a nearest-neighbour sd of 0)")
    unmapped = TauCalibration(
        reference_tau=reference_tau,
        tau=float("nan"),
        sample_rows=len(vectors),
        reference_nn_mean=float(reference.mean()),
        reference_nn_sd=spread[0],
        nn_mean=float(target.mean()),
        nn_sd=spread[1],
    )
    return replace(unmapped, tau=unmapped.map(reference_tau))


def share_with_neighbour_above(vectors: np.ndarray, tau: float) -> float:
    """Share of sample rows whose nearest neighbour is closer than τ (what the filter would flag)."""
    return float(np.mean(nearest_neighbour_cosines(vectors) > tau))
