"""Incremental recomputation: what runs by itself when new data arrives.

- A new inbox file becomes a `pool_shard` partition and its `raw_pool` run (`inbox_sensor`).
- Per-shard stages (`PER_SHARD`) follow that shard alone, through Dagster's automation sensor
  below (on by default): only the new or changed shard is scored and embedded, and a retrained
  scorer rescores every shard.
- Stages over the whole pool (selection, fine-tuning, evaluation) re-run once per schedule tick,
  and only if the data versions of the per-shard inputs differ from those their last selection
  read, so new shards are batched instead of triggering one fine-tune each, and a re-run that
  reproduced the same scores or embeddings triggers nothing.
"""

import hashlib
import os
from collections.abc import Iterable

import dagster as dg

from deita_assets.core.budget import budget_from_env
from deita_assets.core.strategies import DEFAULT_COMPARISON
from deita_assets.partitions import STRATEGIES, pool_shard, strategy

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
DEFAULT_REFRESH_STRATEGIES = DEFAULT_COMPARISON

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


DATA_VERSION_TAG = "dagster/data_version"
INPUTS_VERSION = "pool_inputs_version"  # metadata key on each selected_subset materialization


def _latest(instance: dg.DagsterInstance, key: str, partition: str) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(dg.AssetKey(key), asset_partitions=[partition]), limit=1
    ).records
    return records[0] if records else None


def pool_inputs_version(instance: dg.DagsterInstance) -> str | None:
    """One hash over every shard's current data version of the inputs a selection reads, or None
    before any of them exists. It changes exactly when some shard's scores or embeddings changed."""
    digest, seen = hashlib.sha256(), False
    shards = sorted(instance.get_dynamic_partitions(pool_shard.name))
    for key in POOL_WIDE_INPUTS:
        for shard in shards:
            record = _latest(instance, key, shard)
            version = record.asset_materialization.tags.get(DATA_VERSION_TAG) if record else None
            seen = seen or record is not None
            digest.update(f"{key}[{shard}]={version}\n".encode())
    return digest.hexdigest()[:16] if seen else None


def stale_strategies(instance: dg.DagsterInstance, strategies: Iterable[str]) -> tuple[str | None, list[str]]:
    """The current inputs version, and the strategies whose last selection read another one."""
    current = pool_inputs_version(instance)
    if current is None:
        return None, []
    stale = []
    for name in strategies:
        record = _latest(instance, "selected_subset", name)
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
