"""The blocked, screened Repr Filter equals the sequential float64 walk (kept rows and explanations)."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deita_assets.core.selection import (
    ReprFilter,
    random_order,
    repr_filter,
    score_order,
    screen_margin,
)
from deita_assets_tests.support.selection_oracle import sequential_repr_filter


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny products: a second OpenMP thread only adds synchronization (badly so on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms == 0, 1, norms)).astype(np.float32)


def clustered(rng: np.random.Generator, n: int, d: int, n_centers: int, noise: float, dup_share: float):
    """Rows near a few centers (similarities straddling τ), some exact duplicates, some zero noise."""
    centers = _unit(rng.standard_normal((n_centers, d)))
    rows = _unit(centers[rng.integers(0, n_centers, n)] + noise * rng.standard_normal((n, d)))
    dups = rng.random(n) < dup_share
    if dups.any() and n > 1:
        rows[dups] = rows[rng.integers(0, n, int(dups.sum()))]
    return rows


def assert_same_walk(embeddings, order, budget, tau, **kwargs):
    got = repr_filter(embeddings, order, budget=budget, tau=tau, **kwargs)
    want = sequential_repr_filter(embeddings, order, budget=budget, tau=tau)
    assert got.kept_ids.tolist() == want.kept_ids
    assert got.examined_ids.tolist() == want.examined_ids
    assert got.examined_kept.tolist() == want.examined_kept
    assert got.shortfall == budget - len(want.kept_ids)
    # nearest kept row: same similarity; same row unless two kept rows tie exactly
    np.testing.assert_allclose(got.nearest_sims, want.nearest_sims, rtol=0, atol=1e-12)
    for row, mine, theirs in zip(got.examined_ids, got.nearest_ids, want.nearest_ids, strict=True):
        if mine != theirs:
            a, b = (float(embeddings[row].astype(np.float64) @ embeddings[i]) for i in (mine, theirs))
            assert abs(a - b) <= 1e-12
    return got


data_cases = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "n": st.integers(1, 400),
        "d": st.sampled_from([2, 3, 8, 32, 96]),
        "n_centers": st.integers(1, 30),
        "noise": st.sampled_from([0.0, 0.02, 0.1, 0.3, 0.6, 2.0]),
        "dup_share": st.sampled_from([0.0, 0.1, 0.5]),
        "budget": st.integers(1, 300),
        "tau": st.sampled_from([0.0, 0.5, 0.8, 0.9, 0.95, 0.999, 1.0]),
        "block_size": st.sampled_from([1, 2, 7, 64, 512]),
        "precision": st.sampled_from(["bf16", "fp32"]),
        "tied_scores": st.booleans(),
    }
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=data_cases)
def test_blocked_filter_equals_sequential_walk(case):
    rng = np.random.default_rng(case["seed"])
    x = clustered(rng, case["n"], case["d"], case["n_centers"], case["noise"], case["dup_share"])
    ids = [f"id{i:05d}" for i in rng.permutation(case["n"])]
    scores = rng.integers(0, 3, case["n"]) if case["tied_scores"] else rng.random(case["n"])
    order = score_order(scores, ids)
    assert_same_walk(
        x, order, case["budget"], case["tau"], precision=case["precision"], block_size=case["block_size"]
    )


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), block_size=st.sampled_from([1, 3, 16, 256]))
def test_near_threshold_pairs_decided_exactly(seed, block_size):
    """Similarities within ±1e-3 of τ: inside the screen margin, so the exact path decides."""
    rng = np.random.default_rng(seed)
    d, tau, n = 64, 0.9, 120
    base = _unit(rng.standard_normal((1, d)))[0]
    rows = []
    for _ in range(n):
        ortho = rng.standard_normal(d)
        ortho -= (ortho @ base) * base
        ortho /= np.linalg.norm(ortho)
        sim = tau + rng.uniform(-1e-3, 1e-3)
        rows.append(sim * base + np.sqrt(1 - sim**2) * ortho)
    x = _unit(np.vstack([base[None, :], np.asarray(rows)]))
    order = np.arange(len(x))
    got = assert_same_walk(x, order, 60, tau, block_size=block_size)
    assert 1 < got.n_kept < len(x)  # both decisions happen
    walk = ReprFilter(d, budget=60, tau=tau, block_size=block_size)
    walk.feed(order, x)
    assert walk.exact_pairs > 0  # and the float64 path decided some of them


def test_random_data_all_kept_and_shortfall_reported():
    rng = np.random.default_rng(0)
    x = _unit(rng.standard_normal((300, 128)))
    got = assert_same_walk(x, np.arange(300), 500, 0.9)
    assert got.n_kept == 300 and got.shortfall == 200


def test_exact_duplicates_rejected_with_their_twin_as_nearest():
    x = _unit(np.eye(4, 16) + 0.01)
    x = np.vstack([x, x[[2, 0]]])
    got = assert_same_walk(x, np.arange(6), 10, 0.9)
    assert got.kept_ids.tolist() == [0, 1, 2, 3]
    assert got.nearest_ids[4:].tolist() == [2, 0]
    assert got.nearest_sims[4:] == pytest.approx([1.0, 1.0], abs=1e-6)


def test_feeding_in_uneven_chunks_gives_the_same_walk():
    rng = np.random.default_rng(3)
    x = clustered(rng, 700, 48, 40, 0.3, 0.1)
    whole = repr_filter(x, np.arange(700), budget=200, tau=0.9, block_size=64)
    walk = ReprFilter(48, budget=200, tau=0.9, block_size=64)
    for start, stop in [(0, 5), (5, 333), (333, 334), (334, 700)]:
        if walk.feed(np.arange(start, stop), x[start:stop]):
            break
    assert walk.outcome().kept_ids.tolist() == whole.kept_ids.tolist()


def test_unnormalized_rows_refused():
    with pytest.raises(ValueError, match="L2-normalized"):
        ReprFilter(2, budget=1).feed([0], np.array([[3.0, 4.0]], dtype=np.float32))


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_screen_margin_holds_on_adversarial_vectors(precision):
    """All-positive rows maximize Σ|x_i y_i|, the worst case of the bound."""
    rng = np.random.default_rng(1)
    d = 768
    x = _unit(np.abs(rng.standard_normal((512, d))) + rng.random((512, 1)) * 3)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    t = torch.from_numpy(x).to(dtype)
    screened = (t @ t.T).float().numpy().astype(np.float64)
    exact = x.astype(np.float64) @ x.astype(np.float64).T
    worst = float(np.abs(screened - exact).max())
    assert worst < screen_margin(precision, d)
    assert worst < 0.8 * screen_margin(precision, d)


def test_orders_are_deterministic_and_tie_broken_by_id():
    ids = ["c", "a", "b", "d"]
    assert score_order(np.array([1.0, 2.0, 2.0, 0.5]), ids).tolist() == [1, 2, 0, 3]
    first = random_order(ids, seed=7)
    assert sorted(first.tolist()) == [0, 1, 2, 3]
    shuffled = ["d", "b", "a", "c"]
    # the same set of ids in another read order gives the same id sequence
    assert [ids[i] for i in first] == [shuffled[i] for i in random_order(shuffled, seed=7)]
    assert random_order(ids, seed=8).tolist() != first.tolist() or len(ids) < 3
    with pytest.raises(ValueError, match="NaN"):
        score_order(np.array([np.nan]), ["x"])
