"""Fan-out jobs: the per-shard stages over many shards as one run, one step per shard.

Why op-level fan-out: a Dagster run materializes one partition of a partitioned asset (a single-run
backfill puts every partition into one step, i.e. one process), so N shards would take N runs and N
run-coordinator processes. A dynamic graph is one run with one coordinator and one step per shard,
and the executor sends each step wherever there is room. Each step invokes the asset definition
itself for its shard and reports that partition's materialization (metadata, data version, code
version) and check results, so the asset graph, automation and UI record the same as a
per-partition run would; the asset code is not duplicated.

Executor: with DEITA_CELERY_BROKER set (e.g. redis://127.0.0.1:6379/0) steps go to Dagster's celery
executor and run in the workers of scripts/scale_out/ (with the default run launcher: the
CeleryRunLauncher together with celery_executor fails). Without it the default stays on this
machine: the multiprocess executor, as for every other job.
"""

import hashlib
import os
import re
import time
from collections.abc import Iterator

import dagster as dg
from dagster_celery import celery_executor
from pydantic import Field

from deita_assets.assets.embeddings import pool_embeddings
from deita_assets.assets.ingest import raw_pool
from deita_assets.assets.pool_scores import pool_scores
from deita_assets.assets.reward import reward_scores
from deita_assets.core.inbox import scan_inbox
from deita_assets.orchestration.partitions import pool_shard
from deita_assets.orchestration.sensors import inbox_settle_seconds
from deita_assets.storage.paths import inbox_dir

BROKER_ENV = "DEITA_CELERY_BROKER"
PER_SHARD_ASSETS = (raw_pool, pool_scores, pool_embeddings, reward_scores)


def fan_out_executor() -> dg.ExecutorDefinition:
    """Celery (broker and result backend from $DEITA_CELERY_BROKER) when set, else multiprocess."""
    if not os.environ.get(BROKER_ENV):
        return dg.multiprocess_executor
    return celery_executor.configured({"broker": {"env": BROKER_ENV}, "backend": {"env": BROKER_ENV}})


class ShardsConfig(dg.Config):
    shards: list[str] = Field(
        default_factory=list, description="Shards to materialize (empty: every pool_shard partition)."
    )
    register_inbox: bool = Field(
        default=False,
        description="First register new inbox files as pool_shard partitions (what the inbox sensor does), "
        "so a fan-out of raw_pool needs no daemon.",
    )


def mapping_key(shard: str) -> str:
    """A step-name-safe key, unique per shard (shard keys may hold '.', '-' and other characters)."""
    return f"{re.sub(r'[^A-Za-z0-9_]', '_', shard)[:60]}_{hashlib.sha256(shard.encode()).hexdigest()[:8]}"


@dg.op(out=dg.DynamicOut(str))
def shard_keys(context: dg.OpExecutionContext, config: ShardsConfig) -> Iterator[dg.DynamicOutput[str]]:
    """One dynamic output per shard: each becomes its own step downstream."""
    known = context.instance.get_dynamic_partitions(pool_shard.name)
    if config.register_inbox:
        new, _cursor = scan_inbox(
            inbox_dir(), {}, set(known), settle_seconds=inbox_settle_seconds(), now=time.time()
        )
        context.instance.add_dynamic_partitions(pool_shard.name, [key for key, _path in new])
        known = context.instance.get_dynamic_partitions(pool_shard.name)
    unknown = sorted(set(config.shards) - set(known))
    if unknown:
        raise dg.Failure(f"not pool_shard partitions: {unknown}")
    for shard in config.shards or known:
        yield dg.DynamicOutput(shard, mapping_key=mapping_key(shard))


def _report(
    context: dg.OpExecutionContext, asset: dg.AssetsDefinition, shard: str, result: dg.MaterializeResult
) -> None:
    """Record the asset's own result as that partition's materialization and check evaluations."""
    tags = {"dagster/code_version": asset.code_versions_by_key[asset.key] or context.run_id}
    if result.data_version is not None:
        tags["dagster/data_version"] = result.data_version.value
    context.log_event(
        dg.AssetMaterialization(asset_key=asset.key, partition=shard, metadata=result.metadata, tags=tags)
    )
    for check in result.check_results or ():
        context.log_event(
            dg.AssetCheckEvaluation(
                asset_key=asset.key,
                check_name=check.check_name,
                passed=check.passed,
                metadata=check.metadata,
                severity=check.severity,
                partition=shard,
            )
        )


def shard_op(asset: dg.AssetsDefinition) -> dg.OpDefinition:
    """An op that materializes one shard of `asset` by invoking the asset with that partition key."""
    name = asset.key.to_python_identifier()

    @dg.op(
        name=f"{name}_shard",
        required_resource_keys=set(asset.required_resource_keys),
        config_schema=asset.op.config_schema,
        tags={"deita/stage": name},
    )
    def materialize_shard(context: dg.OpExecutionContext, shard: str) -> str:
        resources = {key: getattr(context.resources, key) for key in asset.required_resource_keys}
        asset_context = dg.build_asset_context(
            partition_key=shard,
            resources=resources,
            asset_config=context.op_config,
            instance=context.instance,
        )
        with asset_context:
            result = asset(asset_context)
        _report(context, asset, shard, result)
        return shard

    materialize_shard.__doc__ = f"One shard of `{name}` (the asset's own code for that partition)."
    return materialize_shard


def fan_out_job(asset: dg.AssetsDefinition) -> dg.JobDefinition:
    """`scale_<asset>`: one run that materializes the chosen shards of `asset`, a step per shard."""
    name = asset.key.to_python_identifier()
    per_shard = shard_op(asset)

    @dg.job(
        name=f"scale_{name}",
        executor_def=fan_out_executor(),
        description=f"Fan {name} out over shards: one step per shard ({BROKER_ENV} set: on celery workers).",
        tags={"deita/fan_out": name},
    )
    def fan_out() -> None:
        shard_keys().map(per_shard)

    return fan_out


SCALE_JOBS = [fan_out_job(asset) for asset in PER_SHARD_ASSETS]
