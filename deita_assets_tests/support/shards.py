"""Real Alpaca rows ingested as one pool shard through the real raw_pool asset."""

import json
from pathlib import Path

import dagster as dg

from deita_assets.assets.ingest import raw_pool
from deita_assets.core.ingest import file_digest, shard_key
from deita_assets.orchestration.partitions import pool_shard
from deita_assets.resources.store import DuckDBStore


def ingest_alpaca(
    alpaca_records: list[dict], deita_home: Path, store: DuckDBStore, instance, name: str, rows: slice
):
    """Ingest a slice of real Alpaca rows as one shard; returns the shard key."""
    records = alpaca_records[rows]
    inbox = deita_home / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_text(json.dumps(records), encoding="utf-8")
    key = shard_key(name, file_digest(path))
    instance.add_dynamic_partitions(pool_shard.name, [key])
    assert dg.materialize(
        [raw_pool], partition_key=key, instance=instance, resources={"store": store}
    ).success
    return key
