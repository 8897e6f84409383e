"""A selection walk: every row a strategy examined, in order, and why each was kept or not.

Dagster-free: the walks that need only values (top m, the Alpagasus threshold, MoDS's cut at m, rows
excluded before walking) are built here; the ones that read the store or call the LLM live in
assets/selection_walks.py and return the same record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deita_assets.core import alpagasus
from deita_assets.core.strategies import Strategy


@dataclass
class Walk:
    """What one strategy examined, in order, and why each row was kept or not."""

    row_ids: list[str]
    scores: list[float | None]
    kept: list[bool]
    reasons: list[str]
    budget: int
    nearest_ids: list[str | None] = field(default_factory=list)
    nearest_sims: list[float | None] = field(default_factory=list)
    details: list[str | None] = field(default_factory=list)
    eligible: int = 0
    exhausted: bool = False  # every eligible row was examined
    excluded: int = 0  # rows appended after the walk, excluded before it (e.g. IFD >= 1)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kept_ids(self) -> list[str]:
        return [r for r, k in zip(self.row_ids, self.kept, strict=True) if k]

    @property
    def examined(self) -> int:
        return len(self.row_ids) - self.excluded

    @property
    def shortfall(self) -> int:
        """Rows missing from m (0 when the budget is met); legitimate only when `exhausted`."""
        return self.budget - len(self.kept_ids)


def top_walk(row_ids: list[str], scores: np.ndarray | None, order: np.ndarray, budget: int) -> Walk:
    """The first m rows of `order` (indices into row_ids), all kept."""
    chosen = order[:budget].tolist()
    return Walk(
        row_ids=[row_ids[i] for i in chosen],
        scores=[None if scores is None else float(scores[i]) for i in chosen],
        kept=[True] * len(chosen),
        reasons=["kept"] * len(chosen),
        budget=budget,
        eligible=len(row_ids),
        exhausted=len(chosen) == len(row_ids),
    )


def eligible_rows(pool: pa.Table, chosen: Strategy) -> pa.Table:
    """The pool rows that compete under this strategy (its `eligible` column true)."""
    if chosen.eligible is None:
        return pool
    return pool.filter(pc.fill_null(pool.column(chosen.eligible), False))


def with_excluded(walk: Walk, pool: pa.Table, chosen: Strategy) -> Walk:
    """Append the rows the strategy excluded before walking (e.g. IFD ≥ 1), each with its reason
    (pool column `excluded_reason`) and detail (`<excluded_reason>_detail`), so none goes unexplained."""
    if chosen.excluded_reason is None:
        return walk
    excluded = pool.filter(pc.is_valid(pool.column(chosen.excluded_reason)))
    n, extra = len(walk.row_ids), excluded.num_rows
    pad = [None] * (n - len(walk.nearest_ids))
    walk.nearest_ids, walk.nearest_sims = walk.nearest_ids + pad, walk.nearest_sims + pad
    walk.details = walk.details + [None] * (n - len(walk.details))
    walk.row_ids += excluded.column("row_id").to_pylist()
    walk.scores += excluded.column(chosen.order).to_pylist()
    walk.kept += [False] * extra
    walk.reasons += excluded.column(chosen.excluded_reason).to_pylist()
    walk.nearest_ids += [None] * extra
    walk.nearest_sims += [None] * extra
    walk.details += excluded.column(f"{chosen.excluded_reason}_detail").to_pylist()
    walk.excluded += extra
    walk.extra[f"excluded_{chosen.excluded_reason}"] = extra
    return walk


def alpagasus_choice(ratings: dict[str, float | None], details: dict[str, str | None], budget: int) -> Walk:
    """Keep rows rated ≥ 4.5, best first (ties by row id), at most m; the walk lists every rated row."""
    passing = sorted(
        (r for r, v in ratings.items() if v is not None and v >= alpagasus.KEEP_AT_LEAST),
        key=lambda r: (-(ratings[r] or 0.0), r),
    )
    kept = passing[:budget]
    rest = sorted((r for r in ratings if r not in set(kept)), key=lambda r: (-(ratings[r] or -1.0), r))
    walk_ids = kept + rest

    def reason(row_id: str) -> str:
        value = ratings[row_id]
        if value is None:
            return "rating_failed"
        return "below_threshold" if value < alpagasus.KEEP_AT_LEAST else "over_budget"

    return Walk(
        row_ids=walk_ids,
        scores=[ratings[r] for r in walk_ids],
        kept=[True] * len(kept) + [False] * len(rest),
        reasons=["kept"] * len(kept) + [reason(r) for r in rest],
        budget=budget,
        nearest_ids=[None] * len(walk_ids),
        nearest_sims=[None] * len(walk_ids),
        details=[details.get(r) for r in walk_ids],
        eligible=len(ratings),
        exhausted=len(passing) <= budget,
        extra={
            "rated": sum(v is not None for v in ratings.values()),
            "rating_failures": sum(v is None for v in ratings.values()),
            "rated_at_least_4_5": len(passing),
        },
    )


def replay_alpagasus(walk: Walk) -> Walk:
    """Second computation for the determinism check from the recorded ratings (the LLM replies are
    cached, so asking again would return the same text)."""
    ratings = dict(zip(walk.row_ids, walk.scores, strict=True))
    return alpagasus_choice(ratings, dict(zip(walk.row_ids, walk.details, strict=True)), walk.budget)


def mods_cut(rows: list[dict[str, Any]], budget: int) -> Walk:
    """MoDS's own result (seed then augmented, in k-center order; every rewarded row explained), cut at
    m so strategies compare at equal budget: a k-center prefix is itself a valid k-center run, so the
    cut drops the least-covering picks. MoDS's set size is K + k (mods assets)."""
    kept_before = sum(r["kept"] for r in rows)
    kept, rank = [], 0
    for r in rows:
        kept.append(bool(r["kept"]) and rank < budget)
        rank += int(r["kept"])
    return Walk(
        row_ids=[r["row_id"] for r in rows],
        scores=[r["score"] for r in rows],
        kept=kept,
        reasons=[
            r["reason"] if k or not r["kept"] else "over_budget" for r, k in zip(rows, kept, strict=True)
        ],
        budget=budget,
        nearest_ids=[r["nearest_row_id"] for r in rows],
        nearest_sims=[r["nearest_sim"] for r in rows],
        details=[r["detail"] for r in rows],
        eligible=len(rows),
        exhausted=kept_before <= budget,
        extra={"mods_selected_before_budget": kept_before},
    )


def selection_rows(strategy_key: str, walk: Walk) -> pa.Table:
    """The walk as `selection` table rows: examined order, kept rank, reason, nearest kept row."""
    n = len(walk.row_ids)
    ranks, count = [], 0
    for k in walk.kept:
        ranks.append(count if k else None)
        count += int(k)
    return pa.table(
        {
            "strategy": pa.array([strategy_key] * n, pa.string()),
            "row_id": pa.array(walk.row_ids, pa.string()),
            "examined_order": pa.array(range(n), pa.int32()),
            "score": pa.array(walk.scores, pa.float64()),
            "kept": pa.array(walk.kept, pa.bool_()),
            "kept_rank": pa.array(ranks, pa.int32()),
            "reason": pa.array(walk.reasons, pa.string()),
            "nearest_row_id": pa.array(walk.nearest_ids or [None] * n, pa.string()),
            "nearest_sim": pa.array(walk.nearest_sims or [None] * n, pa.float64()),
            "detail": pa.array(walk.details or [None] * n, pa.string()),
        }
    )
