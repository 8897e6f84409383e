"""The walks that read the store or call the LLM, dispatched by the strategy registry's `walk` kind.

Alpagasus: the LLM rates each (instruction, response) pair 0-5 through the LLM layer; a row's rating
is the mean over its pairs; unparseable or failed ratings are rows with reason `rating_failed` (and
the raw reply), never a default score.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import numpy as np
import pyarrow as pa

from deita_assets.core import alpagasus
from deita_assets.core.selection import random_order, top_by_score
from deita_assets.core.strategies import WalkKind, WalkParams
from deita_assets.core.walk import Walk, alpagasus_choice, eligible_rows, mods_cut, top_walk, with_excluded
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.store import DuckDBStore
from deita_assets.storage.selection_io import embedding_dim, stream_repr_filter

# Repr Filter walk order per registry `order` column (SQL ranking embedded candidates by it)
ORDER_SQL = {"evol_score": "vectors_select_candidates_by_score", "ifd": "vectors_select_candidates_by_ifd"}


@dataclass(frozen=True)
class WalkInputs:
    """A walk's parameters and what it reads: the run context, resources and the eligible pool."""

    context: dg.AssetExecutionContext
    store: DuckDBStore
    llm: LLMResource
    pool: pa.Table
    params: WalkParams


def _top(run: WalkInputs) -> Walk:
    """Top m by the strategy's order column among eligible rows, or a seeded random m."""
    chosen, params = run.params.strategy, run.params
    pool = eligible_rows(run.pool, chosen)
    ids = pool.column("row_id").to_pylist()
    if chosen.order is None:
        return top_walk(ids, None, random_order(ids, params.seed), params.budget)
    scores = np.asarray(pool.column(chosen.order).to_numpy(zero_copy_only=False), dtype=np.float64)
    walk = top_walk(ids, scores, top_by_score(scores, ids, params.budget), params.budget)
    return with_excluded(walk, run.pool, chosen)


def filter_walk(store: DuckDBStore, params: WalkParams) -> Walk:
    """The Repr Filter streamed over pool_embeddings in the strategy's order (or a seeded random one)."""
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
        budget=out.budget,
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
    return with_excluded(filter_walk(run.store, run.params), run.pool, run.params.strategy)


def _rate(run: WalkInputs, chosen: list[str]) -> tuple[dict[str, float | None], dict[str, str | None], dict]:
    """Each row's mean Alpagasus rating over its pairs (None if any failed, with why), and LLM usage."""
    turns = {
        r["row_id"]: r["turns"] for r in run.store.fetch_arrow("select_turns_for_rows", [chosen]).to_pylist()
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
    return ratings, details, usage


def _alpagasus_walk(run: WalkInputs) -> Walk:
    params = run.params
    ids = run.pool.column("row_id").to_pylist()
    sample = random_order(ids, params.seed)
    if params.alpagasus_max_rows:
        sample = sample[: params.alpagasus_max_rows]
    chosen = [ids[i] for i in sample.tolist()]
    ratings, details, usage = _rate(run, chosen)
    run.context.log.info(f"alpagasus: {sum(v is not None for v in ratings.values())}/{len(chosen)} rated")
    walk = alpagasus_choice(ratings, details, params.budget)
    walk.extra.update(usage)
    walk.extra["pool_rows_not_rated"] = len(ids) - len(chosen)
    return walk


def _mods_walk(run: WalkInputs) -> Walk:
    """MoDS's own result from mods_necessity, cut at m (core.walk.mods_cut)."""
    rows = run.store.fetch_arrow("select_mods_selection").to_pylist()
    if not rows:
        raise dg.Failure("mods_selection is empty: materialize mods_necessity first")
    return mods_cut(rows, run.params.budget)


WALKS: dict[WalkKind, Callable[[WalkInputs], Walk]] = {
    "top": _top,
    "repr_filter": _repr_filter,
    "alpagasus": _alpagasus_walk,
    "mods": _mods_walk,
}


def compute_walk(run: WalkInputs) -> Walk:
    """The walk the strategy's registry entry names."""
    return WALKS[run.params.strategy.walk](run)
