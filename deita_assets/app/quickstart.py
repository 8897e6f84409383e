"""The quick start: ingest a dataset, register its shards and materialize the whole graph once.

Runs go into the same Dagster instance the UI reads ($DEITA_HOME/dagster), so after this finishes
`python -m deita_assets dev` shows every materialization, its lineage and its metadata. The console
gets one line per run and a summary at the end; each run's own log is a file under
$DEITA_HOME/logs/quickstart (and its events are in the UI).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import dagster as dg

from deita_assets.app.graph_runner import PlannedRun, Progress, RunOutcome, execute_plan, plan_runs
from deita_assets.app.instance import fail_abandoned_runs, prepare_dagster_home
from deita_assets.app.run_summary import RunSummary, collect_summary, format_summary
from deita_assets.core.budget import BUDGET_ENV
from deita_assets.core.inbox import copy_into_inbox, plan_inbox, scan_inbox
from deita_assets.core.strategies import reads_ifd
from deita_assets.orchestration.partitions import pool_shard
from deita_assets.resources.registry import SCORER_MAX_LENGTH_ENV
from deita_assets.storage.paths import data_home, inbox_dir

DEFINITIONS = "deita_assets.definitions:defs"

# The demo's sizes: every stage runs for real, sized toward ~10 minutes on 2 CPU cores with the
# bundled 135M models (the README says where the time goes). The launchpad defaults (larger)
# apply to runs from the UI.
DEMO_CONFIG: dict[str, dict[str, Any]] = {
    # 4 seeds x 2 rounds x 2 dimensions = 16 rewrites + 8 rank requests through the local server
    # (the paper: 2,000 seeds x 5 rounds; the launchpad default is 8 x 5).
    "evol_seed": {"size": 4},
    "evolved_variants": {"rounds": 2, "max_tokens_cap": 256},
    "scorer_model": {"epochs": 1.0, "max_length": 256},
    "eval_holdout": {"holdout_size": 20},
    # 8 steps of 2 x 256 tokens: a full fine-tune of the 135M model costs ~60 tokens/s per core.
    "finetuned_model": {"max_steps": 8, "batch_size": 2, "max_length": 256},
    # Offline the judge does not run (judge='auto'); the reference-answer NLL is the measurement.
    "base_model_evaluation": {"nll_max_length": 256},
    "model_evaluation": {"nll_max_length": 256},
}

# What the assets import lazily (so the code server the UI starts stays quick to load): ~9 s per
# run that needs them, paid once here by the fork server every run is forked from.
# (transformers.trainer brings the Auto model and tokenizer classes with it.)
WARM_IMPORTS = ("transformers.trainer", "sentence_transformers", "polars", "matplotlib.pyplot")


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


def demo_run_config(run: PlannedRun) -> dict[str, Any]:
    """Run config for one planned run: the demo sizes of its assets."""
    names = [k.to_user_string() for k in run.asset_keys]
    ops = {name: {"config": DEMO_CONFIG[name]} for name in names if name in DEMO_CONFIG}
    return {"ops": ops} if ops else {}


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def progress_line(outcome: RunOutcome, progress: Progress) -> str:
    """`[k/N] ok|FAILED  asset [partition]  seconds  elapsed, ETA` — one line per finished run."""
    width = len(str(progress.total))
    status = "ok" if outcome.success else "FAILED"
    eta = progress.eta_seconds()
    elapsed = time.monotonic() - progress.started
    tail = f"{_clock(elapsed)} elapsed" + (f", ~{_clock(eta)} left" if eta is not None and eta > 0 else "")
    line = f"[{progress.done:>{width}}/{progress.total}] {status:<6} {outcome.run.label:<44} "
    line += f"{outcome.seconds:6.1f} s   {tail}"
    if not outcome.success:
        where = [f"run {outcome.run_id} in the UI"] if outcome.run_id else []
        where += [f"log {outcome.log_path}"] if outcome.log_path else []
        line += f"\n        {outcome.error or 'failed'}" + (f" (see {', '.join(where)})" if where else "")
    return line


def _shared_llm_server(
    stack: ExitStack, assets: Sequence[dg.AssetsDefinition], log: Callable[[str], None]
) -> None:
    """One local llama.cpp server for every LLM stage of the run, instead of one per run."""
    if os.environ.get("DEITA_LLM_BASE_URL") or os.environ.get("DEITA_LLM_LOCAL_SERVER_URL"):
        return
    if not any("llm" in a.required_resource_keys for a in assets):
        return
    from deita_assets.core.local_llm_server import local_llm_server
    from deita_assets.core.models import BUNDLED_LLM

    started = time.monotonic()
    # 8 slots: two LLM runs at once (the two dimensions) each keep 4 requests in flight.
    url = stack.enter_context(local_llm_server(BUNDLED_LLM, 4096, 8, os.cpu_count() or 2))
    stack.callback(os.environ.pop, "DEITA_LLM_LOCAL_SERVER_URL", None)
    os.environ["DEITA_LLM_LOCAL_SERVER_URL"] = url
    log(f"local LLM server (bundled SmolLM2-135M) up at {url} in {time.monotonic() - started:.1f} s")


def run_quickstart(
    data_paths: Sequence[Path],
    strategies: Sequence[str],
    *,
    budget: int | None = None,
    jobs: int = 2,
    verbose: bool = False,
    log: Callable[[str], None] = print,
) -> RunSummary:
    """Ingest `data_paths`, then materialize every asset for every shard and the chosen strategies."""
    from deita_assets.definitions import defs

    prepare_dagster_home()
    if budget is not None:  # read by every selected_subset run, so all strategies keep the same m
        os.environ[BUDGET_ENV] = str(budget)
    if not reads_ifd(strategies):
        # IFD costs two full forward passes per pair and no chosen strategy reads it
        os.environ.setdefault("DEITA_IFD_MODEL", "none")
    # The demo scores 256 tokens per text (truncations are counted in pool_scores' metadata); the
    # resource default, 512, applies to runs from the UI.
    os.environ.setdefault(SCORER_MAX_LENGTH_ENV, "256")
    inbox = inbox_dir()
    copy_into_inbox(plan_inbox(list(data_paths)), inbox)
    instance = dg.DagsterInstance.get()
    fail_abandoned_runs(instance, log=log)
    added = register_inbox_shards(instance, inbox)
    log(f"{len(added)} new shard(s) registered from {inbox}")

    def choose(partitions_name: str, keys: list[str]) -> list[str]:
        return [k for k in keys if k in strategies] if set(strategies) & set(keys) else keys

    assets = assets_for(defs, strategies)
    plan = plan_runs(assets, instance, choose)
    logs_dir = None if verbose else data_home() / "logs" / "quickstart"
    log(f"{len(plan)} runs, up to {jobs} at a time" + (f"; run logs in {logs_dir}" if logs_dir else ""))
    started = time.monotonic()
    with ExitStack() as stack:
        _shared_llm_server(stack, assets, log)
        outcomes = execute_plan(
            plan,
            DEFINITIONS,
            instance,
            jobs=jobs,
            logs_dir=logs_dir,
            run_config_for=demo_run_config,
            on_done=lambda outcome, progress: log(progress_line(outcome, progress)),
            preload=WARM_IMPORTS,
        )
    summary = collect_summary(instance, outcomes, time.monotonic() - started)
    log(format_summary(summary))
    return summary
