"""Incremental recomputation: what runs by itself when new data arrives.

- A new inbox file becomes a `pool_shard` partition and its `raw_pool` run (`inbox_sensor`).
- Per-shard stages (`PER_SHARD`) follow that shard alone, through Dagster's automation sensor
  below (on by default): only the new or changed shard is scored and embedded, and a retrained
  scorer rescores every shard.
- Stages over the whole pool (selection, fine-tuning, evaluation) re-run once per schedule tick,
  and only if some per-shard stage materialized since their last run, so new shards are
  batched instead of triggering one fine-tune each.
"""

import os
from collections.abc import Iterable

import dagster as dg

from deita_assets.partitions import STRATEGIES, strategy

PER_SHARD = dg.AutomationCondition.eager()
# The comparison redraws once the evaluations that were running have all finished.
AFTER_EVALUATIONS = dg.AutomationCondition.eager()

automation_sensor = dg.AutomationConditionSensorDefinition(
    "deita_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates every asset's automation condition (per-shard stages follow new shards).",
)

POOL_WIDE_INPUTS = ("pool_scores", "pool_embeddings")
DEFAULT_REFRESH_STRATEGIES = "deita,random,longest_response"

refresh_selection_job = dg.define_asset_job(
    "refresh_selection",
    selection=dg.AssetSelection.keys("selected_subset", "finetuned_model", "model_evaluation"),
    partitions_def=strategy,
    tags={"deita/heavy": "true"},
    description="Re-select, fine-tune and evaluate one strategy after new data was scored.",
)


def refresh_strategies() -> list[str]:
    """Strategies the schedule keeps fresh (env DEITA_REFRESH_STRATEGIES, comma-separated)."""
    chosen = os.environ.get("DEITA_REFRESH_STRATEGIES", DEFAULT_REFRESH_STRATEGIES).split(",")
    unknown = sorted(set(chosen) - set(STRATEGIES))
    if unknown:
        raise ValueError(f"DEITA_REFRESH_STRATEGIES names unknown strategies {unknown}; known: {STRATEGIES}")
    return chosen


def _latest_timestamp(
    instance: dg.DagsterInstance, key: str, partitions: Iterable[str] | None = None
) -> float:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(dg.AssetKey(key), asset_partitions=list(partitions) if partitions else None),
        limit=1,
    ).records
    return records[0].timestamp if records else 0.0


def stale_strategies(instance: dg.DagsterInstance, strategies: Iterable[str]) -> tuple[float, list[str]]:
    """The newest per-shard input timestamp, and the strategies whose selection is older than it."""
    newest_input = max(_latest_timestamp(instance, key) for key in POOL_WIDE_INPUTS)
    stale = [s for s in strategies if _latest_timestamp(instance, "selected_subset", [s]) < newest_input]
    return newest_input, stale if newest_input else []


@dg.schedule(
    job=refresh_selection_job,
    cron_schedule="0 */6 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 6 hours: re-select, fine-tune and evaluate the strategies whose inputs changed.",
)
def refresh_selection_schedule(context: dg.ScheduleEvaluationContext):
    newest_input, stale = stale_strategies(context.instance, refresh_strategies())
    if not stale:
        return dg.SkipReason("no per-shard stage materialized since the last selection")
    return [
        dg.RunRequest(run_key=f"{name}-{newest_input:.0f}", partition_key=name, tags={"deita/heavy": "true"})
        for name in stale
    ]
