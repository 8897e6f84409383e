"""The embedding-head scorer kind: exact ridge solution, alpha chosen on training seeds, clipping."""

import numpy as np
import pytest

from deita_assets.core.scorer_head import HeadScorer, fit_ridge, fit_ridge_select_alpha, load_head, save_head


def test_ridge_recovers_a_linear_rule_and_matches_the_normal_equations():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    w = np.arange(1, 9, dtype=np.float64) / 10
    y = x.astype(np.float64) @ w + 3.0
    head = fit_ridge(x, y, alpha=1e-6)
    np.testing.assert_allclose(head.weights, w, atol=1e-4)
    assert head.bias == pytest.approx(3.0, abs=1e-4)
    # with a real penalty: (Xcᵀ Xc + αI) w = Xcᵀ (y - ȳ)
    head = fit_ridge(x, y, alpha=50.0)
    xc = x - x.mean(axis=0)
    expected = np.linalg.solve(xc.T.astype(np.float64) @ xc + 50.0 * np.eye(8), xc.T @ (y - y.mean()))
    np.testing.assert_allclose(head.weights, expected, rtol=1e-4)


def test_alpha_selected_on_held_out_training_seeds_and_saved(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = 3.5 + x[:, 0] + rng.normal(scale=0.1, size=120)
    seeds = [i // 6 for i in range(120)]
    head, errors = fit_ridge_select_alpha(x, y, seeds, embedder="m|x")
    assert set(errors) == {0.01, 0.1, 1.0, 10.0, 100.0} and head.alpha == min(errors, key=errors.get)
    digest = save_head(head, tmp_path / "h", {"dimension": "quality"})
    again = load_head(tmp_path / "h")
    assert len(digest) == 24 and again.embedder == "m|x"
    np.testing.assert_array_equal(again.weights, head.weights)


def test_head_scorer_clips_counts_and_flags_non_finite():
    head = fit_ridge(np.eye(3, dtype=np.float32), np.array([1.0, 2.0, 3.0]), alpha=1e-6)
    vectors = np.array([[10, 0, 0], [0, 1, 0], [np.nan, 0, 0]], dtype=np.float32)
    batch = HeadScorer(head, lambda texts: (vectors[: len(texts)], np.array([False, True, False]))).score(
        [("a",), ("b", "c"), ("d",)]
    )
    assert batch.scores[0] == 1.0 and 1.0 <= batch.scores[1] <= 6.0 and np.isnan(batch.scores[2])
    assert batch.reasons == [None, None, "non-finite embedding or prediction"]
    assert batch.extra["clipped"] == 1 and batch.truncated == [False, True, False]
