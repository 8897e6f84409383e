"""Incremental recomputation: what runs by itself when new data arrives.

- A new inbox file becomes a `pool_shard` partition and its `raw_pool` run (`inbox_sensor`).
- Per-shard stages (an eager automation condition) follow that shard alone, through Dagster's
  automation sensor below (on by default): only the new or changed shard is scored and embedded,
  and a retrained scorer rescores every shard.
- Stages over the whole pool (selection, fine-tuning, evaluation) re-run once per schedule tick,
  and only if the data versions of the per-shard inputs differ from those their last selection
  read, so new shards are batched instead of triggering one fine-tune each, and a re-run that
  reproduced the same scores or embeddings triggers nothing.
"""

import os
from collections.abc import Iterable

import dagster as dg

from deita_assets.core.budget import budget_from_env
from deita_assets.core.strategies import DEFAULT_COMPARISON
from deita_assets.orchestration.jobs import refresh_selection_job
from deita_assets.orchestration.partitions import STRATEGIES
from deita_assets.storage.lineage import INPUTS_VERSION, latest_materialization, pool_inputs_version

automation_sensor = dg.AutomationConditionSensorDefinition(
    "deita_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates every asset's automation condition (per-shard stages follow new shards).",
)

DEFAULT_REFRESH_STRATEGIES = DEFAULT_COMPARISON


def refresh_strategies() -> list[str]:
    """Strategies the schedule keeps fresh (env DEITA_REFRESH_STRATEGIES, comma-separated)."""
    chosen = os.environ.get("DEITA_REFRESH_STRATEGIES", DEFAULT_REFRESH_STRATEGIES).split(",")
    unknown = sorted(set(chosen) - set(STRATEGIES))
    if unknown:
        raise ValueError(f"DEITA_REFRESH_STRATEGIES names unknown strategies {unknown}; known: {STRATEGIES}")
    return chosen


def stale_strategies(instance: dg.DagsterInstance, strategies: Iterable[str]) -> tuple[str | None, list[str]]:
    """The current inputs version, and the strategies whose last selection read another one."""
    current = pool_inputs_version(instance)
    if current is None:
        return None, []
    stale = []
    for name in strategies:
        record = latest_materialization(instance, "selected_subset", name)
        read = record.asset_materialization.metadata.get(INPUTS_VERSION) if record else None
        if read is None or read.value != current:
            stale.append(name)
    return current, stale


@dg.schedule(
    job=refresh_selection_job,
    cron_schedule="0 */6 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 6 hours: re-select, fine-tune and evaluate the strategies whose inputs changed.",
)
def refresh_selection_schedule(context: dg.ScheduleEvaluationContext):
    version, stale = stale_strategies(context.instance, refresh_strategies())
    if not stale:
        return dg.SkipReason("every selection read the current scores and embeddings of every shard")
    budget = budget_from_env(os.environ)  # one m for every strategy, recorded in each run's config
    run_config = {"ops": {"selected_subset": {"config": {"budget": budget}}}} if budget else {}
    return [
        dg.RunRequest(
            run_key=f"{name}-{version}",
            partition_key=name,
            tags={"deita/heavy": "true"},
            run_config=run_config,
        )
        for name in stale
    ]
