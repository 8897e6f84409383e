"""Test data for selection: pool_embeddings and pool_scores rows written straight into the store."""

import numpy as np
import pyarrow as pa

from deita_assets.assets.embeddings import embedding_rows, write_embeddings
from deita_assets.resources.store import DuckDBStore
from deita_assets_tests.support.store_rows import add_rows


def write_selection_inputs(
    store: DuckDBStore,
    shards: list[str],
    ids: list[str],
    vectors: np.ndarray,
    evol: np.ndarray,
    *,
    model: str,
    spec: str,
    held_out: list[str] = (),
) -> str:
    """Embeddings, scores (complexity [evol, 1], quality [1, 10 - evol]) and held-out ids; returns the
    key of the scores' partition (for a test that rewrites them)."""
    n = len(ids)
    meta, rows = embedding_rows(shards, ids, vectors, np.zeros(n, bool), model, spec)
    write_embeddings(store, meta, rows)
    scores = pa.table(
        {
            "shard": shards,
            "row_id": ids,
            "complexity": [[float(e), 1.0] for e in evol],
            "quality": [[1.0, float(10 - e)] for e in evol],
            "evol_score": np.asarray(evol, dtype=np.float64),
            "status": ["ok"] * n,
            "scorer": ["test"] * n,
        }
    )
    scores_key = add_rows(store, "pool_scores", scores)
    if held_out:
        holdout = {
            "row_id": list(held_out),
            "benchmark": ["test"] * len(held_out),
            "prompt": ["p"] * len(held_out),
        }
        add_rows(store, "eval_holdout", pa.table(holdout))
    return scores_key
