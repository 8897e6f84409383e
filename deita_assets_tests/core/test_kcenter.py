"""k-center greedy against a brute-force float64 oracle that recomputes every distance each step."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from deita_assets.core.kcenter import k_center_greedy


def pairwise(points: np.ndarray, metric: str) -> np.ndarray:
    x = points.astype(np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
        dist = np.maximum(1.0 - x @ x.T, 0.0)
        np.fill_diagonal(dist, 0.0)  # a zero row is at distance 1 from everything but itself
        return dist
    diff = x[:, None, :] - x[None, :, :]
    return (diff**2).sum(-1)  # squared: exact for small integers, same order as the distance


def oracle(
    dist: np.ndarray, k: int, first: int | None, existing: list[int], min_distance: float
) -> list[int]:
    """The textbook loop: min over all centers for every point, recomputed from scratch each step."""
    centers = list(existing)
    picked: list[int] = []
    n = dist.shape[0]
    while len(picked) < k and len(centers) < n:
        if not centers:
            picked.append(first)
            centers.append(first)
            continue
        best, best_d = -1, -1.0
        for i in range(n):
            if i in centers:
                continue
            d = min(dist[i, c] for c in centers)
            if d > best_d:  # strict: ties keep the lowest index
                best, best_d = i, d
        if best_d <= min_distance:
            break
        picked.append(best)
        centers.append(best)
    return picked


grid_points = st.integers(2, 40).flatmap(
    lambda n: st.integers(1, 4).flatmap(
        lambda d: arrays(np.int64, (n, d), elements=st.integers(-4, 4)).map(lambda a: a.astype(np.float32))
    )
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(points=grid_points, k=st.integers(0, 12), data=st.data())
def test_euclidean_matches_oracle_exactly(points: np.ndarray, k: int, data: st.DataObject) -> None:
    """Integer grids make every squared distance exact, so ties (frequent here) must break identically."""
    n = len(points)
    start = data.draw(st.integers(0, n - 1))
    result = k_center_greedy(
        points, k, metric="euclidean", start=start, chunk_rows=data.draw(st.integers(1, 50))
    )
    expected = oracle(pairwise(points, "euclidean"), k, start, [], min_distance=0.0)
    assert result.order.tolist() == expected
    assert result.exhausted == (len(expected) < k)
    if expected:
        dist = np.sqrt(pairwise(points, "euclidean"))
        np.testing.assert_allclose(result.min_distance, dist[:, expected].min(axis=1), atol=1e-6)
        assert all(result.nearest_center[i] in expected for i in range(n))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(points=grid_points, k=st.integers(0, 8), data=st.data())
def test_existing_centers_cover_from_the_start(points: np.ndarray, k: int, data: st.DataObject) -> None:
    n = len(points)
    existing = sorted(set(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3))))
    result = k_center_greedy(points, k, metric="euclidean", existing=existing)
    assert result.order.tolist() == oracle(pairwise(points, "euclidean"), k, None, existing, 0.0)
    assert not set(result.order.tolist()) & set(existing)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=st.integers(2, 30).flatmap(
        lambda n: arrays(np.int64, (n, 5), elements=st.integers(-1000, 1000)).map(
            lambda a: (a / 1000).astype(np.float32)
        )
    ),
    k=st.integers(1, 10),
)
def test_cosine_every_pick_is_a_farthest_point(points: np.ndarray, k: int) -> None:
    """Real-valued data: float32 vs float64 may swap near-ties, so check the greedy invariant itself."""
    dist = pairwise(points, "cosine")
    result = k_center_greedy(points, k, metric="cosine", seed=3)
    order = result.order.tolist()
    assert len(order) == len(set(order))
    for step in range(1, len(order)):
        covered = dist[:, order[:step]].min(axis=1)
        covered[order[:step]] = -1.0
        assert covered[order[step]] >= covered.max() - 1e-5
        assert result.pick_distance[step] == pytest.approx(covered[order[step]], abs=1e-5)
    if order:
        np.testing.assert_allclose(result.min_distance, dist[:, order].min(axis=1), atol=1e-5)


def test_well_separated_cosine_matches_oracle_exactly() -> None:
    rng = np.random.default_rng(0)
    points = rng.standard_normal((300, 16)).astype(np.float32)
    expected = oracle(pairwise(points, "cosine"), 25, 7, [], 1e-6)
    assert k_center_greedy(points, 25, metric="cosine", start=7).order.tolist() == expected


def test_ties_go_to_the_lowest_index() -> None:
    points = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], dtype=np.float32)
    assert k_center_greedy(points, 3, metric="euclidean", start=0).order.tolist() == [0, 1, 2]


def test_duplicates_stop_the_run_instead_of_being_picked() -> None:
    points = np.array([[1, 0], [1, 0], [0, 1], [0, 2]], dtype=np.float32)
    result = k_center_greedy(points, 4, metric="cosine", start=0)
    assert result.order.tolist() == [0, 2]
    assert result.exhausted
    assert result.radius == pytest.approx(0.0, abs=1e-6)


def test_seeded_start_is_reproducible_and_k_larger_than_n_is_reported() -> None:
    points = np.random.default_rng(1).standard_normal((20, 4)).astype(np.float32)
    a = k_center_greedy(points, 50, seed=11)
    b = k_center_greedy(points, 50, seed=11)
    assert a.order.tolist() == b.order.tolist()
    assert sorted(a.order.tolist()) == list(range(20))
    assert a.exhausted
    assert np.isinf(a.pick_distance[0])


def test_empty_and_bad_input() -> None:
    result = k_center_greedy(np.zeros((0, 3), dtype=np.float32), 5)
    assert result.order.size == 0 and result.exhausted
    with pytest.raises(ValueError):
        k_center_greedy(np.zeros(3, dtype=np.float32), 1)
    with pytest.raises(ValueError):
        k_center_greedy(np.zeros((2, 3), dtype=np.float32), 1, metric="manhattan")  # type: ignore[arg-type]
