"""What selected_subset shows on its asset page: histograms, composition, plots, rejected rows,
exports and the τ sweep."""

from collections import Counter
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deita_assets.assets.selection_walks import filter_walk
from deita_assets.core.export import write_exports
from deita_assets.core.formats import render_conversation
from deita_assets.core.plots import composition_png, histograms_png, markdown_image
from deita_assets.core.report import histogram_table, markdown_table
from deita_assets.core.strategies import EVOL_LABEL, WalkParams
from deita_assets.core.walk import Walk
from deita_assets.resources.store import DuckDBStore
from deita_assets.storage.calibration_io import ResolvedTau

TAU_SWEEP = (0.8, 0.85, 0.9, 0.95)


def histograms(pool: pa.Table, walk: Walk, label: str) -> str:
    """Selected vs pool, same bins, for the evol score and (if different) the strategy's own score."""
    scored = pool.filter(pc.fill_null(pool.column("scored"), False))
    evol = dict(
        zip(scored.column("row_id").to_pylist(), scored.column("evol_score").to_pylist(), strict=True)
    )
    parts = []
    series = [("evol score", list(evol.values()), [evol[r] for r in walk.kept_ids if r in evol])]
    if label != EVOL_LABEL:
        own = [s for s, k in zip(walk.scores, walk.kept, strict=True) if k and s is not None]
        examined = [s for s in walk.scores if s is not None]
        series.append((f"{label} (examined rows)", examined, own))
    for name, everything, chosen in series:
        values = np.asarray([v for v in everything if v is not None], dtype=np.float64)
        if values.size == 0:
            parts.append(f"**{name}**: no values")
            continue
        edges = np.histogram_bin_edges(values, bins=10)
        parts.append(f"**{name} — pool ({values.size} rows)**\n\n" + histogram_table(values, edges, name))
        parts.append(f"**{name} — selected ({len(chosen)} rows)**\n\n" + histogram_table(chosen, edges, name))
    return "\n\n".join(parts)


def _source_counts(pool: pa.Table, kept_ids: list[str]) -> tuple[Counter, Counter]:
    """Rows per source in the pool and in the selection."""
    sources = dict(zip(pool.column("row_id").to_pylist(), pool.column("source").to_pylist(), strict=True))
    return Counter(sources.values()), Counter(sources.get(r, "?") for r in kept_ids)


def composition(pool: pa.Table, kept_ids: list[str]) -> str:
    everything, chosen = _source_counts(pool, kept_ids)
    total, picked = max(sum(everything.values()), 1), max(len(kept_ids), 1)
    rows = [
        {
            "source": s,
            "pool": n,
            "pool %": f"{100 * n / total:.1f}",
            "selected": chosen.get(s, 0),
            "selected %": f"{100 * chosen.get(s, 0) / picked:.1f}",
        }
        for s, n in sorted(everything.items(), key=lambda item: -item[1])
    ]
    return markdown_table(rows)


def plots(pool: pa.Table, walk: Walk, strategy_key: str, folder: Path) -> str:
    """Two pictures for the asset page: the score the strategy ranks by (selected vs not), and the
    selection's composition by source beside the pool's."""
    kept = set(walk.kept_ids)
    examined = [(s, r in kept) for r, s in zip(walk.row_ids, walk.scores, strict=True) if s is not None]
    xlabel = "score the strategy ranks by"
    if not examined:  # strategies without a score of their own (random): show the evol score
        evol = dict(
            zip(pool.column("row_id").to_pylist(), pool.column("evol_score").to_pylist(), strict=True)
        )
        examined = [(evol[r], r in kept) for r in evol if evol[r] is not None]
        xlabel = "evol score (pool rows)"
    series = {"selected": [s for s, k in examined if k], "not selected": [s for s, k in examined if not k]}
    histogram = histograms_png(series, xlabel, f"{strategy_key}: scores", folder / "scores.png")
    by_source = composition_png(*_source_counts(pool, walk.kept_ids), folder / "sources.png")
    return markdown_image(histogram, "scores") + "\n\n" + markdown_image(by_source, "composition by source")


def _preview(turns_by_id: dict[str, list[dict]], row_id: str | None, chars: int = 90) -> str:
    if row_id is None or row_id not in turns_by_id:
        return ""
    text = render_conversation(turns_by_id[row_id])
    return text if len(text) <= chars else text[: chars - 1] + "…"


def first_rejected(store: DuckDBStore, walk: Walk, limit: int = 10) -> str:
    """The first rejected rows beside the kept row they were too close to, as text."""
    rejected = [i for i, k in enumerate(walk.kept) if not k][:limit]
    if not rejected:
        return "_no rejected rows_"
    wanted = {walk.row_ids[i] for i in rejected} | {
        walk.nearest_ids[i] for i in rejected if walk.nearest_ids[i]
    }
    turns = {
        r["row_id"]: r["turns"]
        for r in store.fetch_arrow("select_turns_for_rows", [sorted(wanted)]).to_pylist()
    }
    return markdown_table(
        [
            {
                "rank": i,
                "row": walk.row_ids[i][:12],
                "reason": walk.reasons[i],
                "score": walk.scores[i],
                "nearest kept": (walk.nearest_ids[i] or "")[:12],
                "similarity": walk.nearest_sims[i],
                "row text": _preview(turns, walk.row_ids[i]),
                "nearest text": _preview(turns, walk.nearest_ids[i]),
            }
            for i in rejected
        ]
    )


def exports(store: DuckDBStore, strategy_key: str, walk: Walk, folder: Path) -> dict[str, Any]:
    """ShareGPT JSON, OpenAI JSONL and Parquet of the kept rows; their paths and row counts."""
    kept = walk.kept_ids
    found = {r["row_id"]: r for r in store.fetch_arrow("select_turns_for_rows", [kept]).to_pylist()}
    scores = {r: s for r, s, k in zip(walk.row_ids, walk.scores, walk.kept, strict=True) if k}
    rows = [
        {"row_id": r, "turns": found[r]["turns"], "source": found[r]["source"], "score": scores[r]}
        for r in kept
    ]
    meta: dict[str, Any] = {}
    for name, (path, count) in write_exports(rows, folder, strategy_key).items():
        meta[f"export_{name}"] = dg.MetadataValue.path(str(path))
        meta[f"export_{name}_rows"] = count
    return meta


def tau_sweep(store: DuckDBStore, params: WalkParams, resolved: ResolvedTau, walk: Walk) -> str:
    """What each swept τ keeps; τ_ref is the reference model's τ, τ this model's (calibrated) one.
    The τ the selection used is the main walk itself, not walked again."""
    rows = []
    for reference_tau, tau in resolved.sweep(TAU_SWEEP):
        swept = walk if tau == params.tau else filter_walk(store, params.with_tau(tau))
        rows.append(
            {
                "tau_ref": reference_tau,
                "tau": round(tau, 4),
                "kept": len(swept.kept_ids),
                "examined": swept.examined,
                "shortfall": swept.shortfall,
            }
        )
    return markdown_table(rows)
