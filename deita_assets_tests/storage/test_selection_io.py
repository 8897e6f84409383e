"""The streamed Repr Filter (DuckDB windows in walk order) equals the in-memory walk and stops early."""

import numpy as np
import pytest

from deita_assets.core.selection import repr_filter, score_order
from deita_assets.resources.store import DuckDBStore
from deita_assets.storage.selection_io import stream_repr_filter
from deita_assets_tests.support.selection_data import write_selection_inputs
from deita_assets_tests.support.selection_oracle import sequential_repr_filter

N, D = 3000, 24


@pytest.fixture
def pool(store: DuckDBStore):
    rng = np.random.default_rng(4)
    centers = rng.standard_normal((300, D)).astype(np.float32)
    x = centers[rng.integers(0, 300, N)] + 0.35 * rng.standard_normal((N, D)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [f"r{(i * 7919) % N:05d}" for i in range(N)]  # insertion order != id order
    scores = np.round(rng.uniform(0, 5, N), 1)  # ties
    shards = [f"s{i % 3}" for i in range(N)]
    write_selection_inputs(store, shards, ids, x, scores, model="m", spec="m|spec", held_out=ids[:50])
    return x, ids, scores


def test_stream_equals_in_memory_walk_and_stops_early(store, pool):
    x, ids, scores = pool
    keep = np.arange(50, N)  # held-out rows excluded in SQL
    order = score_order(scores[keep], [ids[i] for i in keep])
    want = sequential_repr_filter(x[keep], order, budget=400, tau=0.9)
    with store.get_connection() as conn:
        walk = stream_repr_filter(
            conn, spec="m|spec", dim=D, budget=400, tau=0.9, by_score=True, window_rows=1024, block_size=100
        )
    out = walk.outcome
    assert [walk.row_id(p) for p in out.kept_ids] == [ids[keep[i]] for i in want.kept_ids]
    assert out.examined_kept.tolist() == want.examined_kept
    assert walk.candidates == N - 50 and walk.rows_fetched < walk.candidates  # stopped before the end
    assert [walk.scores[p] for p in out.examined_ids] == [scores[keep[i]] for i in want.examined_ids]


def test_random_walk_is_seeded_and_covers_everything_when_the_budget_is_large(store, pool):
    x, ids, _ = pool
    with store.get_connection() as conn:
        a = stream_repr_filter(
            conn, spec="m|spec", dim=D, budget=N, tau=0.9, by_score=False, seed=3, window_rows=1024
        )
        b = stream_repr_filter(
            conn, spec="m|spec", dim=D, budget=N, tau=0.9, by_score=False, seed=3, window_rows=1024
        )
    assert a.outcome.kept_ids.tolist() == b.outcome.kept_ids.tolist()
    assert len(a.outcome.examined_ids) == N - 50 and a.outcome.shortfall > 0
    by_id = {r: i for i, r in enumerate(ids)}
    kept = [by_id[a.row_id(p)] for p in a.outcome.kept_ids]
    rows = [by_id[a.row_id(p)] for p in a.outcome.examined_ids]
    same = repr_filter(x, np.asarray(rows), budget=N, tau=0.9)
    assert same.kept_ids.tolist() == kept
