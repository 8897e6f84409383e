"""Stage: the selected subset per strategy (DEITA and every baseline), with explanations and exports.

The strategies, their walks, orders and labels are one registry: `deita_assets.core.strategies`
(`describe()` lists them). This module runs the walk a registry entry names and writes every examined
row with why it was kept or not. Alpagasus: the LLM rates each (instruction, response) pair 0-5
through the LLM layer; a row's rating is the mean over its pairs; unparseable or failed ratings are
rows with reason `rating_failed` (and the raw reply), never a default score.
Held-out evaluation rows (`eval_holdout`) are excluded in SQL for every strategy.

Budget: m = `budget` rows; 0 (default) sizes it to the demo pool (`budget_fraction` of the eligible
pool). The paper used m = 6,000 (studies) and 10,000 (headline models) on a ~300K pool.
"""

import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from deita_assets.automation import INPUTS_VERSION, pool_inputs_version
from deita_assets.calibration_io import ResolvedTau, resolve_tau
from deita_assets.core import alpagasus
from deita_assets.core.budget import resolve_budget
from deita_assets.core.export import write_exports
from deita_assets.core.formats import render_conversation
from deita_assets.core.plots import composition_png, histograms_png, markdown_image
from deita_assets.core.report import counts_table, histogram_table, markdown_table
from deita_assets.core.selection import (
    gram_check,
    random_order,
    top_by_score,
)
from deita_assets.core.strategies import EVOL_LABEL, Strategy, WalkKind, WalkParams, strategy_of
from deita_assets.partitions import strategy
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.store import DuckDBStore
from deita_assets.selection_io import embedding_dim, stream_repr_filter, vectors_of
from deita_assets.sql import load_sql_for_dim

# Repr Filter walk order per registry `order` column (SQL ranking embedded candidates by it)
ORDER_SQL = {"evol_score": "vectors_select_candidates_by_score", "ifd": "vectors_select_candidates_by_ifd"}
TAU_SWEEP = (0.8, 0.85, 0.9, 0.95)
CHECKS = {
    "no_near_duplicates_above_tau": "no two kept rows have cosine > τ (plain Gram over the kept vectors "
    "read back from pool_embeddings, independent of the filter)",
    "no_duplicate_ids": "every kept row id appears once",
    "budget_met_or_shortfall_stated": "m rows kept, or fewer only because every eligible row was examined",
    "deterministic_for_seed": "a second computation with the same config keeps the same rows, same order",
}


class SelectionConfig(dg.Config):
    budget: int = Field(
        default=0,
        ge=0,
        description="m rows to keep; 0 = $DEITA_SELECTION_BUDGET when set, else budget_fraction of the "
        "eligible pool (demo). Paper: 6000/10000.",
    )
    budget_fraction: float = Field(default=0.1, gt=0, le=1, description="Demo budget as a share of the pool.")
    tau: float | None = Field(
        default=None,
        description="Repr Filter threshold on cosine SIMILARITY; None = 0.9 on the reference MiniLM, "
        "calibrated per embedding model otherwise (embedding_calibration).",
    )
    seed: int = Field(
        default=0,
        description="Seed of the random orders (strategies without an order column, alpagasus sample).",
    )
    precision: Literal["bf16", "fp32"] = Field(
        default="bf16", description="Screen precision (exact either way)."
    )
    window_rows: int = Field(default=65_536, ge=1024, description="Embeddings read per DuckDB scan.")
    tau_sweep: bool = Field(
        default=True,
        description="Also count what τ_ref in {0.8,0.85,0.9,0.95}, mapped to this model, would keep.",
    )
    alpagasus_max_rows: int = Field(
        default=128, ge=0, description="Rows the LLM rates (seeded sample; 0 = all). Ratings are cached."
    )
    export: bool = Field(default=True, description="Write ShareGPT JSON, OpenAI JSONL and Parquet exports.")


@dataclass
class Walk:
    """What one strategy examined, in order, and why each row was kept or not."""

    row_ids: list[str]
    scores: list[float | None]
    kept: list[bool]
    reasons: list[str]
    nearest_ids: list[str | None] = field(default_factory=list)
    nearest_sims: list[float | None] = field(default_factory=list)
    details: list[str | None] = field(default_factory=list)
    eligible: int = 0
    exhausted: bool = False  # every eligible row was examined
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kept_ids(self) -> list[str]:
        return [r for r, k in zip(self.row_ids, self.kept, strict=True) if k]


def _pool(store: DuckDBStore) -> pa.Table:
    return store.fetch_arrow("select_selection_pool")


@dataclass(frozen=True)
class WalkInputs:
    """A walk's parameters and what it reads: the run context, resources and the eligible pool."""

    context: dg.AssetExecutionContext
    store: DuckDBStore
    llm: LLMResource
    pool: pa.Table
    params: WalkParams


def _top_walk(
    row_ids: list[str], scores: np.ndarray | None, order: np.ndarray, budget: int, eligible: int
) -> Walk:
    chosen = order[:budget].tolist()
    return Walk(
        row_ids=[row_ids[i] for i in chosen],
        scores=[None if scores is None else float(scores[i]) for i in chosen],
        kept=[True] * len(chosen),
        reasons=["kept"] * len(chosen),
        eligible=eligible,
        exhausted=len(chosen) == eligible,
    )


def _eligible(pool: pa.Table, chosen: Strategy) -> pa.Table:
    if chosen.eligible is None:
        return pool
    return pool.filter(pc.fill_null(pool.column(chosen.eligible), False))


def _with_excluded(walk: Walk, pool: pa.Table, chosen: Strategy) -> Walk:
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
    walk.extra[f"excluded_{chosen.excluded_reason}"] = extra
    return walk


def _top(run: WalkInputs) -> Walk:
    """Top m by the strategy's order column among eligible rows, or a seeded random m."""
    chosen, params = run.params.strategy, run.params
    pool = _eligible(run.pool, chosen)
    ids = pool.column("row_id").to_pylist()
    if chosen.order is None:
        return _top_walk(ids, None, random_order(ids, params.seed), params.budget, len(ids))
    scores = np.asarray(pool.column(chosen.order).to_numpy(zero_copy_only=False), dtype=np.float64)
    walk = _top_walk(ids, scores, top_by_score(scores, ids, params.budget), params.budget, len(ids))
    return _with_excluded(walk, run.pool, chosen)


def _filter_walk(store: DuckDBStore, params: WalkParams) -> Walk:
    order = params.strategy.order
    spec = params.embedding_spec
    with store.get_connection() as conn:
        dim = embedding_dim(conn, spec)
        if dim is None:
            raise dg.Failure(f"no pool_embeddings rows with spec {spec!r}: materialize pool_embeddings first")
        stream = stream_repr_filter(
            conn,
            spec=spec,
            dim=dim,
            budget=params.budget,
            tau=params.tau,
            by_score=order is not None,
            score_sql=ORDER_SQL[order] if order else None,
            seed=params.seed,
            window_rows=params.window_rows,
            precision=params.precision,
        )
    out = stream.outcome
    positions = out.examined_ids.tolist()
    return Walk(
        row_ids=[stream.row_id(p) for p in positions],
        scores=[float(stream.scores[p]) for p in positions]
        if stream.scores is not None
        else [None] * len(positions),
        kept=out.examined_kept.tolist(),
        reasons=["kept" if k else "redundant" for k in out.examined_kept.tolist()],
        nearest_ids=[stream.row_id(n) if n >= 0 else None for n in out.nearest_ids.tolist()],
        nearest_sims=[None if math.isnan(s) else s for s in out.nearest_sims.tolist()],
        details=[None] * len(positions),
        eligible=stream.candidates,
        exhausted=len(positions) == stream.candidates,
        extra={
            "rows_fetched": stream.rows_fetched,
            "embedding_scans": stream.windows,
            **{f"seconds_{phase}": value for phase, value in stream.seconds.items()},
        },
    )


def _repr_filter(run: WalkInputs) -> Walk:
    return _with_excluded(_filter_walk(run.store, run.params), run.pool, run.params.strategy)


def _alpagasus_walk(run: WalkInputs) -> Walk:
    store, params = run.store, run.params
    ids = run.pool.column("row_id").to_pylist()
    sample = random_order(ids, params.seed)
    if params.alpagasus_max_rows:
        sample = sample[: params.alpagasus_max_rows]
    chosen = [ids[i] for i in sample.tolist()]
    turns = {
        r["row_id"]: r["turns"] for r in store.fetch_arrow("select_turns_for_rows", [chosen]).to_pylist()
    }
    requests = {row_id: alpagasus.rating_requests(turns[row_id]) for row_id in chosen}
    flat = [request for row_id in chosen for request in requests[row_id]]
    with run.llm.session() as session:
        results = iter(session.chat_many(flat))
        usage = session.usage_metadata()
    ratings: dict[str, float | None] = {}
    details: dict[str, str | None] = {}
    for row_id in chosen:
        replies = [next(results) for _ in requests[row_id]]
        values = [alpagasus.parse_rating(r.text) if r.ok else None for r in replies]
        failed = [r for r, v in zip(replies, values, strict=True) if v is None]
        ratings[row_id] = None if failed or not values else float(np.mean(values))
        if not values:
            details[row_id] = "no (instruction, response) pair to rate"
        elif failed:
            why = failed[0].error_detail or failed[0].text or ""
            details[row_id] = f"{failed[0].error_kind or 'unparseable'}: {why[:500]}"
        else:
            details[row_id] = None
    run.context.log.info(f"alpagasus: {sum(v is not None for v in ratings.values())}/{len(chosen)} rated")
    walk = alpagasus_choice(ratings, details, params.budget)
    walk.extra.update(usage)
    walk.extra["pool_rows_not_rated"] = len(ids) - len(chosen)
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


def _replay_alpagasus(walk: Walk, budget: int) -> Walk:
    """Second computation for the determinism check from the recorded ratings (the LLM replies are
    cached, so asking again would return the same text)."""
    ratings = dict(zip(walk.row_ids, walk.scores, strict=True))
    return alpagasus_choice(ratings, dict(zip(walk.row_ids, walk.details, strict=True)), budget)


def _mods_walk(run: WalkInputs) -> Walk:
    """MoDS's own result from mods_necessity (seed then augmented, in k-center order; every rewarded row
    explained), cut at m so strategies compare at equal budget: a k-center prefix is itself a valid
    k-center run, so the cut drops the least-covering picks. MoDS's set size is K + k (mods assets)."""
    budget = run.params.budget
    rows = run.store.fetch_arrow("select_mods_selection").to_pylist()
    if not rows:
        raise dg.Failure("mods_selection is empty: materialize mods_necessity first")
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
        nearest_ids=[r["nearest_row_id"] for r in rows],
        nearest_sims=[r["nearest_sim"] for r in rows],
        details=[r["detail"] for r in rows],
        eligible=len(rows),
        exhausted=kept_before <= budget,
        extra={"mods_selected_before_budget": kept_before},
    )


WALKS: dict[WalkKind, Callable[[WalkInputs], Walk]] = {
    "top": _top,
    "repr_filter": _repr_filter,
    "alpagasus": _alpagasus_walk,
    "mods": _mods_walk,
}


def compute_walk(run: WalkInputs) -> Walk:
    """The walk the strategy's registry entry names."""
    return WALKS[run.params.strategy.walk](run)


def selection_rows(strategy_key: str, walk: Walk) -> pa.Table:
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


def _histograms(pool: pa.Table, walk: Walk, label: str) -> str:
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


def _composition(pool: pa.Table, kept_ids: list[str]) -> str:
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


def _plots(store: DuckDBStore, pool: pa.Table, walk: Walk, strategy_key: str) -> str:
    """Two pictures for the asset page: the score the strategy ranks by (selected vs not), and the
    selection's composition by source beside the pool's."""
    folder = store.artifacts_dir("selection", strategy_key)
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
    composition = composition_png(*_source_counts(pool, walk.kept_ids), folder / "sources.png")
    return markdown_image(histogram, "scores") + "\n\n" + markdown_image(composition, "composition by source")


def _preview(turns_by_id: dict[str, list[dict]], row_id: str | None, chars: int = 90) -> str:
    if row_id is None or row_id not in turns_by_id:
        return ""
    text = render_conversation(turns_by_id[row_id])
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _first_rejected(store: DuckDBStore, walk: Walk, limit: int = 10) -> str:
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


def _exports(store: DuckDBStore, strategy_key: str, walk: Walk, pool: pa.Table) -> dict[str, Any]:
    kept = walk.kept_ids
    found = {r["row_id"]: r for r in store.fetch_arrow("select_turns_for_rows", [kept]).to_pylist()}
    scores = {r: s for r, s, k in zip(walk.row_ids, walk.scores, walk.kept, strict=True) if k}
    rows = [
        {"row_id": r, "turns": found[r]["turns"], "source": found[r]["source"], "score": scores[r]}
        for r in kept
    ]
    written = write_exports(rows, store.artifacts_dir("selection", strategy_key), strategy_key)
    meta: dict[str, Any] = {}
    for name, (path, count) in written.items():
        meta[f"export_{name}"] = dg.MetadataValue.path(str(path))
        meta[f"export_{name}_rows"] = count
    return meta


def _checks(store: DuckDBStore, params: WalkParams, walk: Walk, again: Walk) -> list[dg.AssetCheckResult]:
    strategy_key, spec, budget, tau = params.strategy.name, params.embedding_spec, params.budget, params.tau
    n_kept = len(walk.kept_ids)
    with store.get_connection() as conn:
        dim = embedding_dim(conn, spec)
        sql = load_sql_for_dim("vectors_select_kept", dim) if dim else None
        vectors_table = conn.sql(sql, params=[spec, strategy_key]).to_arrow_table() if sql else None
    applies = params.strategy.uses_repr_filter
    if vectors_table is not None and vectors_table.num_rows:
        vectors = vectors_of(vectors_table.column("embedding"), dim)
        gram = gram_check(vectors, tau)
        gram_meta = {
            "pairs_above_tau": gram.pairs_above,
            "max_pair_similarity": gram.max_similarity,
            "kept_rows_with_vectors": vectors_table.num_rows,
        }
        if gram.example:
            ids = vectors_table.column("row_id").to_pylist()
            gram_meta["example_pair"] = f"{ids[gram.example[0]]} / {ids[gram.example[1]]}"
        gram_ok = gram.pairs_above == 0 and vectors_table.num_rows == n_kept
    else:
        gram_meta, gram_ok = {"kept_rows_with_vectors": 0}, n_kept == 0
    counts = store.fetch_arrow("select_selection_id_counts", [strategy_key]).to_pylist()[0]
    kept_rows, distinct = counts["kept_rows"], counts["distinct_ids"]
    shortfall = budget - n_kept
    return [
        dg.AssetCheckResult(
            check_name="no_near_duplicates_above_tau",
            passed=bool(gram_ok) if applies else True,
            metadata={
                **gram_meta,
                "tau": tau,
                "applies": applies,
                "note": "enforced" if applies else "strategy has no diversity filter: informational",
            },
        ),
        dg.AssetCheckResult(
            check_name="no_duplicate_ids",
            passed=kept_rows == distinct == n_kept,
            metadata={"kept_rows": kept_rows, "distinct_ids": distinct},
        ),
        dg.AssetCheckResult(
            check_name="budget_met_or_shortfall_stated",
            passed=shortfall == 0 or (shortfall > 0 and walk.exhausted),
            severity=dg.AssetCheckSeverity.WARN if shortfall > 0 else dg.AssetCheckSeverity.ERROR,
            metadata={
                "budget": budget,
                "kept": n_kept,
                "shortfall": shortfall,
                "eligible_examined_all": walk.exhausted,
            },
            description=f"shortfall {shortfall}: every eligible row was examined"
            if shortfall > 0
            else "budget met",
        ),
        dg.AssetCheckResult(
            check_name="deterministic_for_seed",
            passed=walk.kept_ids == again.kept_ids and walk.row_ids == again.row_ids,
            metadata={"kept_first_run": n_kept, "kept_second_run": len(again.kept_ids)},
        ),
    ]


def _tau_sweep(store: DuckDBStore, params: WalkParams, resolved: ResolvedTau) -> str:
    """What each swept τ keeps; τ_ref is the reference model's τ, τ this model's (calibrated) one."""
    rows, budget = [], params.budget
    for reference_tau, tau in resolved.sweep(TAU_SWEEP):
        walk = _filter_walk(store, params.with_tau(tau))
        rows.append(
            {
                "tau_ref": reference_tau,
                "tau": round(tau, 4),
                "kept": len(walk.kept_ids),
                "examined": len(walk.row_ids),
                "shortfall": budget - len(walk.kept_ids),
            }
        )
    return markdown_table(rows)


@dg.asset(
    partitions_def=strategy,
    deps=[
        dg.AssetDep("raw_pool", partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep("pool_embeddings", partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep("pool_scores", partition_mapping=dg.AllPartitionMapping()),
        "eval_holdout",
        "mods_necessity",  # writes mods_selection, which the mods partition copies
    ],
    check_specs=[
        dg.AssetCheckSpec(name, asset="selected_subset", description=text) for name, text in CHECKS.items()
    ],
    group_name="selection",
    kinds={"duckdb"},
)
def selected_subset(
    context: dg.AssetExecutionContext,
    config: SelectionConfig,
    store: DuckDBStore,
    embedder: EmbedderResource,
    llm: LLMResource,
) -> dg.MaterializeResult:
    """The m rows one strategy selects from the whole pool (all shards), each examined row explained.

    Why: DEITA's claim is that score-first, diversity-aware selection beats the baselines at equal
    budget; every strategy writes the same `selection` table (kept/rejected, rank, nearest kept row)
    and the same exports, so the fine-tune and the evaluation compare like with like.
    """
    strategy_key = context.partition_key
    pool = _pool(store)
    budget = resolve_budget(config.budget, config.budget_fraction, pool.num_rows, os.environ)
    spec = embedder.spec()
    resolved = resolve_tau(store, embedder, config.tau)
    params = WalkParams(
        strategy=strategy_of(strategy_key),
        budget=budget,
        tau=resolved.tau,
        seed=config.seed,
        embedding_spec=spec,
        window_rows=config.window_rows,
        precision=config.precision,
        alpagasus_max_rows=config.alpagasus_max_rows,
    )
    run = WalkInputs(context, store, llm, pool, params)
    walk = compute_walk(run)
    table = selection_rows(strategy_key, walk)
    store.replace_partition("selection", [strategy_key], table)
    # alpagasus replays its recorded ratings (the LLM replies are cached, asking again is the same text)
    again = compute_walk(run) if params.strategy.walk != "alpagasus" else _replay_alpagasus(walk, budget)
    n_kept = len(walk.kept_ids)
    metadata: dict[str, Any] = {
        "dagster/row_count": n_kept,
        "strategy": strategy_key,
        "budget": budget,
        "kept": n_kept,
        "shortfall": budget - n_kept,
        "examined": len(walk.row_ids),
        "eligible_rows": walk.eligible,
        "pool_rows_not_held_out": pool.num_rows,
        "tau": resolved.tau,
        "tau_source": resolved.source,
        "seed": config.seed,
        "embedding_spec": spec,
        INPUTS_VERSION: pool_inputs_version(context.instance) or "no per-shard inputs yet",
        "reasons": dg.MetadataValue.md(counts_table(Counter(walk.reasons), "reason")),
        "score_histograms": dg.MetadataValue.md(_histograms(pool, walk, params.strategy.label)),
        "source_composition": dg.MetadataValue.md(_composition(pool, walk.kept_ids)),
        "plots": dg.MetadataValue.md(_plots(store, pool, walk, strategy_key)),
        "first_rejected": dg.MetadataValue.md(_first_rejected(store, walk)),
        **{k: v for k, v in walk.extra.items()},
    }
    if resolved.calibration:
        metadata["tau_calibration"] = dg.MetadataValue.json(resolved.calibration.as_dict())
    if params.strategy.uses_repr_filter and config.tau_sweep:
        metadata["tau_sweep"] = dg.MetadataValue.md(_tau_sweep(store, params, resolved))
    if config.export:
        metadata.update(_exports(store, strategy_key, walk, pool))
    return dg.MaterializeResult(metadata=metadata, check_results=_checks(store, params, walk, again))
