"""Sensors: new inbox files become new `pool_shard` partitions, each with one run request."""

import json
import os
import time
from pathlib import Path

import dagster as dg

from deita_assets.core.inbox import scan_inbox
from deita_assets.orchestration.jobs import ingest_job
from deita_assets.orchestration.partitions import pool_shard
from deita_assets.storage.paths import inbox_dir


def inbox_settle_seconds() -> float:
    """Files younger than this may still be being copied by the user (`cp`, not our CLI)."""
    return float(os.environ.get("DEITA_INBOX_SETTLE_SECONDS", "2"))


def inbox_sensor_result(context: dg.SensorEvaluationContext, inbox: Path) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(pool_shard.name))
    new, next_cursor = scan_inbox(
        inbox, cursor, known, settle_seconds=inbox_settle_seconds(), now=time.time()
    )
    for key, path in new:
        context.log.info(f"new shard {key} from {path.name}")
    keys = [key for key, _ in new]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=key, partition_key=key) for key in keys],
        dynamic_partitions_requests=[pool_shard.build_add_request(keys)] if keys else [],
        cursor=json.dumps(next_cursor, sort_keys=True),
    )


@dg.sensor(
    job=ingest_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Registers each new inbox file ($DEITA_HOME/inbox) as a pool_shard and ingests it.",
)
def inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    return inbox_sensor_result(context, inbox_dir())
