"""Synthetic embedding pools for the selection benchmarks: near-duplicate clusters on an anisotropic base.

Real sentence embeddings share a common direction (pairwise cosine ~0.2-0.3, not 0) and contain
near-duplicate clusters. Rows here: unit vectors normalize(g + alpha*mu) (shared direction mu gives a
base similarity ~0.25), and a `dup_fraction` of rows are near-copies of cluster centers,
normalize(center + eps*g) with eps ~ U(0.15, 0.5), so member similarities straddle tau = 0.9.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

BASE_ALPHA = 1 / np.sqrt(3)  # shared-direction weight: mean pairwise cosine ~ alpha^2/(1+alpha^2) = 0.25


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _base_rows(rng: np.random.Generator, n: int, d: int, mu: np.ndarray) -> np.ndarray:
    g = _unit(rng.standard_normal((n, d), dtype=np.float32))
    return _unit(g + np.float32(BASE_ALPHA) * mu)


def pool_chunks(
    n: int, d: int, *, dup_fraction: float, cluster_size: float, seed: int, chunk: int = 100_000
) -> Iterator[np.ndarray]:
    """Yield float32 unit rows in chunks; near-duplicate members are scattered uniformly."""
    rng = np.random.default_rng(seed)
    mu = _unit(rng.standard_normal((1, d), dtype=np.float32))
    n_centers = max(1, round(n * dup_fraction / cluster_size))
    centers = _base_rows(rng, n_centers, d, mu)
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        rows = _base_rows(rng, size, d, mu)
        members = np.flatnonzero(rng.random(size) < dup_fraction)
        eps = rng.uniform(0.15, 0.5, size=(len(members), 1)).astype(np.float32)
        noise = _unit(rng.standard_normal((len(members), d), dtype=np.float32))
        rows[members] = _unit(centers[rng.integers(0, n_centers, len(members))] + eps * noise)
        yield rows


def pool(n: int, d: int, *, dup_fraction: float, cluster_size: float, seed: int) -> np.ndarray:
    out = np.empty((n, d), dtype=np.float32)
    start = 0
    for rows in pool_chunks(n, d, dup_fraction=dup_fraction, cluster_size=cluster_size, seed=seed):
        out[start : start + len(rows)] = rows
        start += len(rows)
    return out


def scores(n: int, seed: int) -> np.ndarray:
    """Evol scores independent of the clusters, with deliberate ties (rounded to 2 decimals)."""
    return np.round(np.random.default_rng(seed + 1).uniform(1, 36, n), 2)


def row_ids(start: int, size: int) -> list[str]:
    """32-hex ids like the pool's content hashes (not sorted by position, like real hashes)."""
    return [f"{(i * 0x9E3779B97F4A7C15) & ((1 << 128) - 1):032x}" for i in range(start + 1, start + size + 1)]


def build_duckdb_pool(
    path: str, n: int, d: int, *, dup_fraction: float, cluster_size: float, seed: int, model: str
) -> None:
    """Write `pool_scores` and `pool_embeddings` (project schema) for n synthetic rows into the store
    folder `path`: one chunk is one 100K-row shard, committed as it is built (memory: one chunk)."""
    import pyarrow as pa

    from deita_assets.assets.embeddings import embedding_rows, write_embeddings
    from deita_assets.resources.store import DuckDBStore

    store = DuckDBStore(root=path)
    evol = scores(n, seed)
    start, shard_rows = 0, 100_000
    chunks = pool_chunks(
        n, d, dup_fraction=dup_fraction, cluster_size=cluster_size, seed=seed, chunk=shard_rows
    )
    for rows in chunks:
        size = len(rows)
        ids = pa.array(row_ids(start, size))
        name = f"shard-{start // shard_rows:03d}"
        shard = pa.array([name] * size)
        meta, vectors = embedding_rows(
            shard.to_pylist(), ids.to_pylist(), rows, np.zeros(size, bool), model, model
        )
        score = evol[start : start + size]
        sc = pa.table(
            {
                "shard": shard,
                "row_id": ids,
                "complexity": pa.array([[float(s)] for s in np.sqrt(score)]),
                "quality": pa.array([[float(s)] for s in np.sqrt(score)]),
                "evol_score": pa.array(score),
                "status": pa.array(["ok"] * size),
                "scorer": pa.array(["synthetic"] * size),
            }
        )
        write_embeddings(store, meta, vectors)
        store.replace_partition("pool_scores", [name], sc)
        start += size
        print(f"  built {start:,}/{n:,} rows", flush=True)
