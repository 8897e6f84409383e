"""Stage: the selected subset per strategy (DEITA and every baseline), with explanations and exports.

The strategies, their walks, orders and labels are one registry: `deita_assets.core.strategies`
(`describe()` lists them). This asset runs the walk a registry entry names (selection_walks), writes
every examined row with why it was kept or not, and reports it (selection_report, selection_checks).
Held-out evaluation rows (`eval_holdout`) are excluded in SQL for every strategy.

Budget: m = `budget` rows; 0 (default) sizes it to the demo pool (`budget_fraction` of the eligible
pool). The paper used m = 6,000 (studies) and 10,000 (headline models) on a ~300K pool.
"""

import os
from collections import Counter
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from deita_assets.assets import selection_report as report
from deita_assets.assets.selection_checks import CHECKS, selection_checks
from deita_assets.assets.selection_walks import WalkInputs, compute_walk
from deita_assets.core.budget import resolve_budget
from deita_assets.core.report import counts_table
from deita_assets.core.strategies import WalkParams, strategy_of
from deita_assets.core.walk import Walk, replay_alpagasus, selection_rows
from deita_assets.orchestration.partitions import strategy
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.store import DuckDBStore
from deita_assets.storage.calibration_io import resolve_tau
from deita_assets.storage.lineage import INPUTS_VERSION, pool_inputs_version


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


def _metadata(context: dg.AssetExecutionContext, run: WalkInputs, walk: Walk) -> dict[str, Any]:
    """What the asset page shows of one selection (the τ sweep and exports are added by the asset)."""
    strategy_key, pool = run.params.strategy.name, run.pool
    n_kept = len(walk.kept_ids)
    return {
        "dagster/row_count": n_kept,
        "strategy": strategy_key,
        "budget": walk.budget,
        "kept": n_kept,
        "shortfall": walk.shortfall,
        "examined": len(walk.row_ids),
        "eligible_rows": walk.eligible,
        "pool_rows_not_held_out": pool.num_rows,
        "tau": run.params.tau,
        "seed": run.params.seed,
        "embedding_spec": run.params.embedding_spec,
        INPUTS_VERSION: pool_inputs_version(context.instance) or "no per-shard inputs yet",
        "reasons": dg.MetadataValue.md(counts_table(Counter(walk.reasons), "reason")),
        "score_histograms": dg.MetadataValue.md(report.histograms(pool, walk, run.params.strategy.label)),
        "source_composition": dg.MetadataValue.md(report.composition(pool, walk.kept_ids)),
        "plots": dg.MetadataValue.md(
            report.plots(pool, walk, strategy_key, run.store.artifacts_dir("selection", strategy_key))
        ),
        "first_rejected": dg.MetadataValue.md(report.first_rejected(run.store, walk)),
        **walk.extra,
    }


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
    pool = store.fetch_arrow("select_selection_pool")
    resolved = resolve_tau(store, embedder, config.tau)
    params = WalkParams(
        strategy=strategy_of(context.partition_key),
        budget=resolve_budget(config.budget, config.budget_fraction, pool.num_rows, os.environ),
        tau=resolved.tau,
        seed=config.seed,
        embedding_spec=embedder.spec(),
        window_rows=config.window_rows,
        precision=config.precision,
        alpagasus_max_rows=config.alpagasus_max_rows,
    )
    run = WalkInputs(context, store, llm, pool, params)
    walk = compute_walk(run)
    store.replace_partition("selection", [params.strategy.name], selection_rows(params.strategy.name, walk))
    # alpagasus replays its recorded ratings (the LLM replies are cached, asking again is the same text)
    again = compute_walk(run) if params.strategy.walk != "alpagasus" else replay_alpagasus(walk)
    metadata = {**_metadata(context, run, walk), "tau_source": resolved.source}
    if resolved.calibration:
        metadata["tau_calibration"] = dg.MetadataValue.json(resolved.calibration.as_dict())
    if params.strategy.uses_repr_filter and config.tau_sweep:
        metadata["tau_sweep"] = dg.MetadataValue.md(report.tau_sweep(store, params, resolved, walk))
    if config.export:
        folder = store.artifacts_dir("selection", params.strategy.name)
        metadata.update(report.exports(store, params.strategy.name, walk, folder))
    return dg.MaterializeResult(metadata=metadata, check_results=selection_checks(store, params, walk, again))
