"""The four checks every selection runs: no near-duplicates above τ (a plain Gram over the kept
vectors, independent of the filter), no duplicate ids, budget met or shortfall explained, and the same
rows on a second computation."""

from typing import Any

import dagster as dg

from deita_assets.core.selection import gram_check
from deita_assets.core.strategies import WalkParams
from deita_assets.core.walk import Walk
from deita_assets.resources.store import DuckDBStore
from deita_assets.storage.selection_io import embedding_dim, vectors_of
from deita_assets.storage.sql import load_sql_for_dim

CHECKS = {
    "no_near_duplicates_above_tau": "no two kept rows have cosine > τ (plain Gram over the kept vectors "
    "read back from pool_embeddings, independent of the filter)",
    "no_duplicate_ids": "every kept row id appears once",
    "budget_met_or_shortfall_stated": "m rows kept, or fewer only because every eligible row was examined",
    "deterministic_for_seed": "a second computation with the same config keeps the same rows, same order",
}


def _gram(store: DuckDBStore, params: WalkParams, n_kept: int) -> tuple[bool, dict[str, Any]]:
    """Whether the kept rows' vectors (read back from pool_embeddings) have no pair above τ."""
    strategy_key, spec = params.strategy.name, params.embedding_spec
    with store.get_connection() as conn:
        dim = embedding_dim(conn, spec)
        sql = load_sql_for_dim("vectors_select_kept", dim) if dim else None
        vectors_table = conn.sql(sql, params=[spec, strategy_key]).to_arrow_table() if sql else None
    if vectors_table is None or not vectors_table.num_rows:
        return n_kept == 0, {"kept_rows_with_vectors": 0}
    gram = gram_check(vectors_of(vectors_table.column("embedding"), dim), params.tau)
    meta: dict[str, Any] = {
        "pairs_above_tau": gram.pairs_above,
        "max_pair_similarity": gram.max_similarity,
        "kept_rows_with_vectors": vectors_table.num_rows,
    }
    if gram.example:
        ids = vectors_table.column("row_id").to_pylist()
        meta["example_pair"] = f"{ids[gram.example[0]]} / {ids[gram.example[1]]}"
    return gram.pairs_above == 0 and vectors_table.num_rows == n_kept, meta


def _budget_check(walk: Walk) -> dg.AssetCheckResult:
    shortfall = walk.shortfall
    return dg.AssetCheckResult(
        check_name="budget_met_or_shortfall_stated",
        passed=shortfall == 0 or (shortfall > 0 and walk.exhausted),
        severity=dg.AssetCheckSeverity.WARN if shortfall > 0 else dg.AssetCheckSeverity.ERROR,
        metadata={
            "budget": walk.budget,
            "kept": len(walk.kept_ids),
            "shortfall": shortfall,
            "eligible_examined_all": walk.exhausted,
        },
        description=f"shortfall {shortfall}: every eligible row was examined"
        if shortfall > 0
        else "budget met",
    )


def selection_checks(
    store: DuckDBStore, params: WalkParams, walk: Walk, again: Walk
) -> list[dg.AssetCheckResult]:
    """The CHECKS, evaluated on the written selection and a second computation (`again`)."""
    n_kept = len(walk.kept_ids)
    applies = params.strategy.uses_repr_filter
    gram_ok, gram_meta = _gram(store, params, n_kept)
    counts = store.fetch_arrow("select_selection_id_counts", [params.strategy.name]).to_pylist()[0]
    kept_rows, distinct = counts["kept_rows"], counts["distinct_ids"]
    return [
        dg.AssetCheckResult(
            check_name="no_near_duplicates_above_tau",
            passed=bool(gram_ok) if applies else True,
            metadata={
                **gram_meta,
                "tau": params.tau,
                "applies": applies,
                "note": "enforced" if applies else "strategy has no diversity filter: informational",
            },
        ),
        dg.AssetCheckResult(
            check_name="no_duplicate_ids",
            passed=kept_rows == distinct == n_kept,
            metadata={"kept_rows": kept_rows, "distinct_ids": distinct},
        ),
        _budget_check(walk),
        dg.AssetCheckResult(
            check_name="deterministic_for_seed",
            passed=walk.kept_ids == again.kept_ids and walk.row_ids == again.row_ids,
            metadata={"kept_first_run": n_kept, "kept_second_run": len(again.kept_ids)},
        ),
    ]
