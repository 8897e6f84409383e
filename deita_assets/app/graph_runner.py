"""Materialize the whole asset graph against the persistent Dagster instance, runs side by side.

This is what the quick start runs: the same assets, resources and run storage as the UI, so every
run it makes shows up there afterwards with its lineage and metadata. Each asset (a multi-asset
counts as one) gets one run per partition key, so a failure names exactly what failed and the rest
of the graph goes on.

Why not one Dagster backfill: a Dagster run holds at most one partition, so a backfill is many runs
launched by the daemon through a code server — two more long-lived processes, each run a fresh
interpreter (~6 s of imports) and a daemon tick between them. Here every run is still a real Dagster
run (`execute_in_process` into the instance), each in its own process forked from one that imported
the code once, started as soon as the runs it reads from have succeeded, as many at once as `jobs`,
and under the instance's own run-queue tag limits (`deita/heavy`: one at a time, as in the UI).
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from deita_assets.orchestration.partitions import IN_ORDER_TAG

RUNNER_PID_TAG = "deita/runner_pid"


@dataclass(frozen=True)
class PlannedRun:
    asset_keys: tuple[dg.AssetKey, ...]
    partition_key: str | None
    after: tuple[int, ...] = field(default=(), compare=False)  # plan indices this run reads from
    tags: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def label(self) -> str:
        names = ", ".join(k.to_user_string() for k in self.asset_keys)
        return f"{names} [{self.partition_key}]" if self.partition_key else names


@dataclass(frozen=True)
class RunOutcome:
    run: PlannedRun
    success: bool
    run_id: str | None
    seconds: float
    log_path: Path | None = None
    error: str | None = None


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
    """One run per (asset definition, partition key) in dependency order, each naming the runs it
    waits for: the same partition of an upstream with the same partitions (Dagster's identity
    mapping), every partition of any other upstream."""
    by_key = {key: a for a in assets for key in a.keys}
    remaining = set(by_key)
    plan: list[PlannedRun] = []
    runs_of: dict[dg.AssetKey, list[int]] = {}
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
            assets_def = by_key[keys[0]]
            upstream = {u for k in keys for u in assets_def.asset_deps[k]} & set(by_key)
            in_order = any(assets_def.tags_by_key.get(k, {}).get(IN_ORDER_TAG) for k in keys)
            tags = tuple(sorted({t for k in keys for t in assets_def.tags_by_key.get(k, {}).items()}))
            previous: int | None = None
            for partition in _partition_keys(assets_def, instance, choose_partitions):
                after: set[int] = set()
                for up in upstream:
                    same = by_key[up].partitions_def == assets_def.partitions_def and partition is not None
                    after |= {i for i in runs_of[up] if not same or plan[i].partition_key == partition}
                if in_order and previous is not None:
                    after.add(previous)
                previous = len(plan)
                plan.append(PlannedRun(tuple(keys), partition, tuple(sorted(after)), tags))
            for key in keys:
                runs_of[key] = [i for i, run in enumerate(plan) if key in run.asset_keys]
        remaining -= set(ready)
    return plan


def _load_defs(defs_ref: str) -> dg.Definitions:
    module, _, attr = defs_ref.partition(":")
    return getattr(importlib.import_module(module), attr or "defs")


def _execute_one(
    defs_ref: str,
    run: PlannedRun,
    log_path: str | None,
    run_config: Mapping[str, Any],
    environ: Mapping[str, str],
) -> tuple[bool, str | None, str | None]:
    """In a worker process: one Dagster run into the instance at $DAGSTER_HOME.

    The environment is the caller's at submit time (the fork server keeps the one it started with).
    """
    os.environ.clear()
    os.environ.update(environ)
    threads = environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and "torch" in sys.modules:  # imported by the fork server: env read already
        sys.modules["torch"].set_num_threads(int(threads))
    if log_path is not None:  # the run's console output goes to its own file, not the terminal
        handle = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(handle, 1)
        os.dup2(handle, 2)
        os.close(handle)
    job = _load_defs(defs_ref).resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            partition_key=run.partition_key,
            asset_selection=list(run.asset_keys),
            run_config=dict(run_config),
            tags={RUNNER_PID_TAG: str(os.getpid())},
            raise_on_error=False,
        )
    failures = [_root_cause(e.step_failure_data.error) for e in result.all_events if e.is_step_failure]
    return result.success, result.run_id, (failures[0] if failures else None)


def _root_cause(error: Any) -> str:
    """The user's exception inside Dagster's wrapper, as one line."""
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[-1] if error is not None and error.message else "step failed"


def _tag_limits(instance: dg.DagsterInstance) -> dict[tuple[str, str | None], int]:
    """The run queue's tag limits from dagster.yaml, so the runner obeys what the UI's queue obeys."""
    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits or []
    parsed: dict[tuple[str, str | None], int] = {}
    for limit in limits:
        value = limit.get("value")
        parsed[(limit["key"], value if isinstance(value, str) else None)] = int(limit["limit"])
    return parsed


def _blocked_by_limits(
    run: PlannedRun, running: Iterable[PlannedRun], limits: Mapping[tuple[str, str | None], int]
) -> bool:
    tags = dict(run.tags)
    for (key, value), limit in limits.items():
        if key in tags and (value is None or tags[key] == value):
            busy = sum(1 for r in running if dict(r.tags).get(key) == tags[key])
            if busy >= limit:
                return True
    return False


def _descendant_counts(plan: Sequence[PlannedRun]) -> list[int]:
    """How many runs wait, directly or not, on each run: the ready run with most goes first, so the
    long chain (evolution -> scorers -> scoring -> selection -> training) is never queued behind a leaf."""
    below: list[set[int]] = [set() for _ in plan]
    for index in reversed(range(len(plan))):
        for upstream in plan[index].after:
            below[upstream] |= {index} | below[index]
    return [len(b) for b in below]


@dataclass
class Progress:
    """What a progress line needs: steps done, total, and the wall clock so far."""

    total: int
    jobs: int
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    busy_seconds: float = 0.0

    def eta_seconds(self) -> float | None:
        if not self.done:
            return None
        return (self.total - self.done) * (self.busy_seconds / self.done) / self.jobs


def _log_path(logs_dir: Path | None, index: int, run: PlannedRun) -> Path | None:
    if logs_dir is None:
        return None
    name = run.label.replace(" ", "").replace("[", "-").replace("]", "").replace(",", "+")
    return logs_dir / f"{index + 1:02d}-{name}.log"


@dataclass
class _Scheduler:
    """The state of one execute_plan call: what finished, what runs, what may start next."""

    plan: Sequence[PlannedRun]
    jobs: int
    limits: dict[tuple[str, str | None], int]
    on_done: Callable[[RunOutcome, Progress], None]
    progress: Progress
    outcomes: dict[int, RunOutcome] = field(default_factory=dict)
    running: dict[Future, tuple[int, float, Path | None]] = field(default_factory=dict)

    def finish(self, index: int, outcome: RunOutcome) -> None:
        self.outcomes[index] = outcome
        self.progress.done += 1
        self.progress.busy_seconds += outcome.seconds
        self.on_done(outcome, self.progress)

    def may_start(self, index: int) -> bool:
        """False while it waits; a run whose upstream failed is finished here as not started."""
        run = self.plan[index]
        if index in self.outcomes or any(i == index for i, _t, _p in self.running.values()):
            return False
        failed_upstream = [i for i in run.after if i in self.outcomes and not self.outcomes[i].success]
        if failed_upstream:
            reason = f"not started: {self.plan[failed_upstream[0]].label} failed"
            self.finish(index, RunOutcome(run, False, None, 0.0, error=reason))
            return False
        if len(self.running) >= self.jobs or not all(i in self.outcomes for i in run.after):
            return False
        return not _blocked_by_limits(run, (self.plan[i] for i, _t, _p in self.running.values()), self.limits)

    def collect(self) -> None:
        """Wait for at least one running run and record how it ended."""
        done, _pending = wait(self.running, return_when=FIRST_COMPLETED)
        for future in done:
            index, started, log_path = self.running.pop(future)
            try:
                success, run_id, error = future.result()
            except Exception as exc:  # the worker process itself died (e.g. out of memory)
                success, run_id, error = False, None, f"{type(exc).__name__}: {exc}"
            seconds = time.monotonic() - started
            self.finish(index, RunOutcome(self.plan[index], success, run_id, seconds, log_path, error))


def execute_plan(
    plan: Sequence[PlannedRun],
    defs_ref: str,
    instance: dg.DagsterInstance,
    *,
    jobs: int = 2,
    logs_dir: Path | None = None,
    run_config_for: Callable[[PlannedRun], Mapping[str, Any]] = lambda _run: {},
    on_done: Callable[[RunOutcome, Progress], None] = lambda _outcome, _progress: None,
    preload: Sequence[str] = (),
) -> list[RunOutcome]:
    """Run every planned run once the runs it waits for succeeded, the one with most runs waiting on
    it first; a run whose upstream failed is reported as not started (failed). `logs_dir` set: each
    run's console output goes to `<logs_dir>/<k>-<asset>.log`; unset: it goes to this terminal.
    `preload`: modules the fork server imports once besides the definitions, so the runs forked
    from it do not each import them again."""
    state = _Scheduler(plan, jobs, _tag_limits(instance), on_done, Progress(total=len(plan), jobs=jobs))
    descendants = _descendant_counts(plan)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([defs_ref.partition(":")[0], *preload])
    # Runs side by side share the cores: each gets its share of torch/OpenMP threads, since
    # oversubscribed threads spin against each other (unless the user chose a thread count).
    environ = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // jobs)), **os.environ}
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
    order = sorted(range(len(plan)), key=lambda i: (-descendants[i], i))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, max_tasks_per_child=1) as pool:
        while len(state.outcomes) < len(plan):
            finished_before = len(state.outcomes)
            for index in order:
                if not state.may_start(index):
                    continue
                log_path = _log_path(logs_dir, index, plan[index])
                log_file = str(log_path) if log_path else None
                future = pool.submit(
                    _execute_one, defs_ref, plan[index], log_file, run_config_for(plan[index]), environ
                )
                state.running[future] = (index, time.monotonic(), log_path)
            if not state.running:
                if len(state.outcomes) == finished_before:
                    raise RuntimeError("no planned run can start: the plan's dependencies are inconsistent")
                continue
            state.collect()
    return [state.outcomes[i] for i in range(len(plan))]
