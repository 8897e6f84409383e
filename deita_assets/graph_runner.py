"""Materialize the whole asset graph in dependency order against the persistent Dagster instance.

This is what the quick start runs: the same assets, resources and run storage as the UI, so every
run it makes shows up there afterwards with its lineage and metadata. Assets are grouped into
generations (topological layers); each asset (a multi-asset counts as one) gets one run per
partition key, so a failure names exactly what failed and the rest of the graph goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class PlannedRun:
    asset_keys: tuple[dg.AssetKey, ...]
    partition_key: str | None


def _partition_keys(
    assets_def: dg.AssetsDefinition,
    instance: dg.DagsterInstance,
    choose: Callable[[str, list[str]], list[str]],
) -> list[str | None]:
    partitions_def = assets_def.partitions_def
    if partitions_def is None:
        return [None]
    keys = list(partitions_def.get_partition_keys(dynamic_partitions_store=instance))
    name = getattr(partitions_def, "name", None) or ",".join(keys)
    return list(choose(name, keys))


def plan_runs(
    assets: Sequence[dg.AssetsDefinition],
    instance: dg.DagsterInstance,
    choose_partitions: Callable[[str, list[str]], list[str]] = lambda _name, keys: keys,
) -> list[PlannedRun]:
    """One run per (asset definition, partition key), generation by generation."""
    by_key = {key: a for a in assets for key in a.keys}
    remaining = set(by_key)
    plan: list[PlannedRun] = []
    while remaining:
        ready = sorted(
            (k for k in remaining if not (by_key[k].asset_deps[k] & remaining)),
            key=lambda k: k.to_user_string(),
        )
        if not ready:
            raise ValueError(f"dependency cycle among {sorted(k.to_user_string() for k in remaining)}")
        groups: dict[int, list[dg.AssetKey]] = {}
        for key in ready:
            groups.setdefault(id(by_key[key]), []).append(key)
        for keys in groups.values():
            for partition in _partition_keys(by_key[keys[0]], instance, choose_partitions):
                plan.append(PlannedRun(tuple(keys), partition))
        remaining -= set(ready)
    return plan


def execute_plan(
    plan: Iterable[PlannedRun],
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    log: Callable[[str], None] = print,
) -> list[tuple[PlannedRun, bool]]:
    """Run each planned step with its asset checks; keep going past a failure and report it."""
    job = defs.resolve_implicit_global_asset_job_def()
    outcomes = []
    for step in plan:
        names = ", ".join(k.to_user_string() for k in step.asset_keys)
        suffix = f" [{step.partition_key}]" if step.partition_key else ""
        log(f"materializing {names}{suffix}")
        result = job.execute_in_process(
            instance=instance,
            partition_key=step.partition_key,
            asset_selection=list(step.asset_keys),
            raise_on_error=False,
        )
        outcomes.append((step, result.success))
        if not result.success:
            log(f"  FAILED: {names}{suffix} (see run {result.run_id} in the UI)")
    return outcomes
