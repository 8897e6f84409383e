"""τ calibration on constructed vectors: the map is affine in the nearest-neighbour statistics,
identity for the same model, and keeps the share of rows with a close neighbour where both models
have such rows."""

import numpy as np
import pytest

from deita_assets.core.tau_calibration import (
    calibrate_tau,
    nearest_neighbour_cosines,
    share_with_neighbour_above,
)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def crowded(vectors: np.ndarray, weight: float) -> np.ndarray:
    """The same rows plus a shared direction: cos' = (cos + w²) / (1 + w²), every cosine pushed up
    like E5's, an exact affine map of the reference's, so the calibration must recover it."""
    common = np.zeros(vectors.shape[1] + 1)
    common[-1] = 1.0
    padded = np.hstack([vectors, np.zeros((len(vectors), 1))])
    return unit(padded + weight * common)


@pytest.fixture
def sample() -> np.ndarray:
    rng = np.random.default_rng(0)
    base = unit(rng.normal(size=(300, 24)))
    noise = rng.normal(size=(60, 24)) * rng.uniform(0.02, 0.1, size=(60, 1))
    near = unit(base[:60] + noise)  # near-duplicates of 60 rows, some closer than others
    return np.vstack([base, near])


def test_same_model_maps_tau_to_itself(sample):
    calibration = calibrate_tau(sample, sample, 0.9)
    assert calibration.tau == pytest.approx(0.9) and calibration.sample_rows == 360
    assert calibration.map(0.8) == pytest.approx(0.8)


def test_crowded_model_gets_a_higher_tau_with_the_same_share_of_flagged_rows(sample):
    other = crowded(sample, 2.0)
    ref_nn, nn = nearest_neighbour_cosines(sample), nearest_neighbour_cosines(other)
    assert nn.mean() > ref_nn.mean() + 0.2  # cosines crowd high
    calibration = calibrate_tau(sample, other, 0.9)
    expected = nn.mean() + nn.std() * (0.9 - ref_nn.mean()) / ref_nn.std()
    assert calibration.tau == pytest.approx(expected)
    assert 0.9 < calibration.tau < 1.0
    reference_share = share_with_neighbour_above(sample, 0.9)
    assert 0.2 < reference_share < 0.4  # the constructed near-duplicates (and their originals)
    assert share_with_neighbour_above(other, calibration.tau) == reference_share
    assert share_with_neighbour_above(other, 0.9) > 0.8  # the uncalibrated τ flags most rows
    sweep = [calibration.map(t) for t in (0.8, 0.85, 0.9, 0.95)]
    assert sweep == sorted(sweep) and sweep[2] == pytest.approx(calibration.tau)


def test_calibration_refuses_what_it_cannot_measure(sample):
    with pytest.raises(ValueError, match="differ"):
        calibrate_tau(sample, sample[:10], 0.9)
    with pytest.raises(ValueError, match="at least 3 rows"):
        calibrate_tau(sample[:2], sample[:2], 0.9)
    same = np.tile(sample[:1], (5, 1))
    with pytest.raises(ValueError, match="sd of 0"):
        calibrate_tau(same, same, 0.9)
