"""The quick start: ingest a dataset, register its shards and materialize the whole graph once.

Runs go into the same Dagster instance the UI reads ($DEITA_HOME/dagster), so after this finishes
`python -m deita_assets dev` shows every materialization, its lineage and its metadata.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import dagster as dg

from deita_assets.core.inbox import execute_plan as copy_into_inbox
from deita_assets.core.inbox import plan_inbox, scan_inbox
from deita_assets.graph_runner import execute_plan, plan_runs
from deita_assets.instance import prepare_dagster_home
from deita_assets.partitions import pool_shard
from deita_assets.paths import inbox_dir


def register_inbox_shards(instance: dg.DagsterInstance, inbox: Path) -> list[str]:
    """Do what the inbox sensor does, synchronously: every inbox file becomes a pool_shard."""
    known = set(instance.get_dynamic_partitions(pool_shard.name))
    new, _cursor = scan_inbox(inbox, {}, known, settle_seconds=0, now=time.time())
    keys = [key for key, _path in new]
    if keys:
        instance.add_dynamic_partitions(pool_shard.name, keys)
    return keys


def assets_for(defs: dg.Definitions, strategies: Sequence[str]) -> list[dg.AssetsDefinition]:
    """Every asset, except the MoDS chain (reward model, seed fine-tune) when `mods` is not chosen:
    it is the most expensive branch and nothing else reads it."""
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    if "mods" in strategies:
        return assets
    return [a for a in assets if "mods" not in a.group_names_by_key.values()]


def run_quickstart(
    data_paths: Sequence[Path],
    strategies: Sequence[str],
    log: Callable[[str], None] = print,
) -> bool:
    """Ingest `data_paths`, then materialize every asset for every shard and the chosen strategies."""
    from deita_assets.definitions import defs

    prepare_dagster_home()
    inbox = inbox_dir()
    copy_into_inbox(plan_inbox(list(data_paths)), inbox)
    instance = dg.DagsterInstance.get()
    added = register_inbox_shards(instance, inbox)
    log(f"{len(added)} new shard(s) registered from {inbox}")

    def choose(partitions_name: str, keys: list[str]) -> list[str]:
        return [k for k in keys if k in strategies] if set(strategies) & set(keys) else keys

    plan = plan_runs(assets_for(defs, strategies), instance, choose)
    outcomes = execute_plan(plan, defs, instance, log)
    failed = [step for step, ok in outcomes if not ok]
    log(f"{len(outcomes) - len(failed)} of {len(outcomes)} runs succeeded")
    return not failed
