"""k-center greedy (Gonzalez 1985), as MoDS uses it to pick instructions that cover the pool.

Start from one point (seeded, or after a set of existing centers), then repeatedly add the point
farthest from its nearest center. That is a 2-approximation of the minimum covering radius.

Cost: each new center needs its distance to every point once, so the whole run is O(N·K·d) work
with an incrementally maintained N-vector of "distance to the nearest center" — never an N×N or
N×K matrix. Points are float32; the only N×d array is the (normalized, for cosine) input; work is
done in row chunks so temporaries stay at `chunk_rows`×d.

Determinism: the start is drawn from `numpy.random.default_rng(seed)`; ties for "farthest" go to the
lowest index (`argmax` returns the first maximum). Points within `min_distance` of a center count as
covered; when every point is covered the run stops early and says so, instead of adding duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Metric = Literal["cosine", "euclidean"]


@dataclass(frozen=True)
class KCenterResult:
    """The picked centers in pick order, with what the caller needs to explain each row."""

    order: np.ndarray  # int64 indices into the points, in pick order
    pick_distance: np.ndarray  # float32: distance of each pick to its nearest earlier center (inf: first)
    min_distance: np.ndarray  # float32 per point: distance to its nearest center after the run
    nearest_center: np.ndarray  # int64 per point: index of that center (-1 when there were none)
    exhausted: bool  # True when the run stopped before k because every point was covered

    @property
    def radius(self) -> float:
        """Covering radius: the largest distance from any point to its nearest center."""
        return float(self.min_distance.max()) if self.min_distance.size else 0.0


def prepare_points(points: np.ndarray, metric: Metric) -> np.ndarray:
    """float32 C-contiguous; unit rows for cosine.

    A zero row stays zero (distance 1 to everything); so does a row whose float32 norm underflows
    (all entries below ~1e-19), which no real embedding has.
    """
    x = np.ascontiguousarray(points, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"points must be a 2-d array, got shape {x.shape}")
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1)
        if not np.allclose(norms[norms > 0], 1.0, atol=1e-5):
            x = x / np.where(norms > 0, norms, 1.0).astype(np.float32)[:, None]
    elif metric != "euclidean":
        raise ValueError(f"unknown metric {metric!r}; use 'cosine' or 'euclidean'")
    return x


def distances_to(x: np.ndarray, center: np.ndarray, metric: Metric, chunk_rows: int = 16384) -> np.ndarray:
    """Distance (float32) from every row of prepared `x` to one prepared `center` vector.

    cosine: 1 - x·c clipped at 0; euclidean: the true L2 distance, from differences (not the
    |x|²+|c|²-2x·c identity, which cancels badly for near-duplicates).
    """
    out = np.empty(x.shape[0], dtype=np.float32)
    for start in range(0, x.shape[0], chunk_rows):
        block = x[start : start + chunk_rows]
        if metric == "cosine":
            out[start : start + len(block)] = np.maximum(np.float32(1.0) - block @ center, np.float32(0.0))
        else:
            diff = block - center
            out[start : start + len(block)] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


class _Coverage:
    """Each point's distance to its nearest center so far, that center, and which points are centers."""

    def __init__(self, x: np.ndarray, metric: Metric, chunk_rows: int) -> None:
        self.x, self.metric, self.chunk_rows = x, metric, chunk_rows
        n = x.shape[0]
        self.min_dist = np.full(n, np.inf, dtype=np.float32)
        self.nearest = np.full(n, -1, dtype=np.int64)
        self.chosen = np.zeros(n, dtype=bool)

    def add(self, index: int) -> None:
        """Make `index` a center: every point it is closer to now points at it."""
        d = distances_to(self.x, self.x[index], self.metric, self.chunk_rows)
        closer = d < self.min_dist
        self.min_dist[closer] = d[closer]
        self.nearest[closer] = index
        self.min_dist[index] = 0.0
        self.nearest[index] = index
        self.chosen[index] = True


def k_center_greedy(
    points: np.ndarray,
    k: int,
    *,
    metric: Metric = "cosine",
    seed: int = 0,
    start: int | None = None,
    existing: Sequence[int] = (),
    min_distance: float = 1e-6,
    chunk_rows: int = 16384,
) -> KCenterResult:
    """Pick up to `k` new centers among `points` (N×d).

    `existing`: indices already chosen (e.g. the MoDS seed when augmenting relative to it); they
    cover points from the start and are not returned. Without them the first pick is `start`, or a
    random index from `seed`.
    """
    if k < 0:
        raise ValueError("k must be >= 0")
    x = prepare_points(points, metric)
    n = x.shape[0]
    cover = _Coverage(x, metric, chunk_rows)
    for index in existing:
        cover.add(int(index))

    order: list[int] = []
    picks: list[float] = []
    exhausted = False
    while len(order) < k and len(order) + len(existing) < n:
        if not order and not len(existing):
            first = int(np.random.default_rng(seed).integers(n)) if start is None else int(start)
            order.append(first)
            picks.append(float("inf"))
            cover.add(first)
            continue
        candidate = np.where(cover.chosen, -np.inf, cover.min_dist)
        index = int(np.argmax(candidate))
        if candidate[index] <= min_distance:
            exhausted = True
            break
        order.append(index)
        picks.append(float(candidate[index]))
        cover.add(index)
    if len(order) < k and not exhausted:
        exhausted = True  # ran out of points
    return KCenterResult(
        order=np.asarray(order, dtype=np.int64),
        pick_distance=np.asarray(picks, dtype=np.float32),
        min_distance=cover.min_dist,
        nearest_center=cover.nearest,
        exhausted=exhausted,
    )
