"""The plain sequential Repr Filter: the reference the blocked filter must equal (tests, benchmark).

One candidate at a time, float64 similarities against every kept row, keep if all ≤ τ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass
class OracleOutcome:
    kept_ids: list[int]
    examined_ids: list[int]
    examined_kept: list[bool]
    nearest_ids: list[int]
    nearest_sims: list[float]
    finished: bool  # False when stopped by the time cap


def sequential_repr_filter(
    embeddings: np.ndarray, order: np.ndarray, *, budget: int, tau: float, time_cap: float | None = None
) -> OracleOutcome:
    kept = np.empty((budget, embeddings.shape[1]), dtype=np.float64)
    out = OracleOutcome([], [], [], [], [], True)
    deadline = None if time_cap is None else time.perf_counter() + time_cap
    for row in np.asarray(order).tolist():
        if deadline is not None and time.perf_counter() > deadline:
            out.finished = False
            break
        vector = embeddings[row].astype(np.float64)
        k = len(out.kept_ids)
        if k:
            sims = kept[:k] @ vector
            best = int(np.argmax(sims))
            nearest, sim = out.kept_ids[best], float(sims[best])
        else:
            nearest, sim = -1, float("nan")
        keep = k == 0 or sim <= tau
        out.examined_ids.append(row)
        out.examined_kept.append(keep)
        out.nearest_ids.append(nearest)
        out.nearest_sims.append(sim)
        if keep:
            kept[k] = vector
            out.kept_ids.append(row)
            if len(out.kept_ids) == budget:
                break
    return out
