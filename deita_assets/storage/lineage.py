"""Lineage read back from the Dagster instance: which data versions of the per-shard inputs a
selection read, so the schedule re-selects only when some shard's scores or embeddings changed."""

import hashlib

import dagster as dg

from deita_assets.orchestration.partitions import pool_shard

POOL_WIDE_INPUTS = ("pool_scores", "pool_embeddings")
DATA_VERSION_TAG = "dagster/data_version"
INPUTS_VERSION = "pool_inputs_version"  # metadata key on each selected_subset materialization


def latest_materialization(
    instance: dg.DagsterInstance, key: str, partition: str
) -> dg.EventLogRecord | None:
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
            record = latest_materialization(instance, key, shard)
            version = record.asset_materialization.tags.get(DATA_VERSION_TAG) if record else None
            seen = seen or record is not None
            digest.update(f"{key}[{shard}]={version}\n".encode())
    return digest.hexdigest()[:16] if seen else None
