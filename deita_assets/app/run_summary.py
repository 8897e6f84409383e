"""What a whole-graph run found, in a dozen lines: the quick start's closing summary.

Everything comes from where the runs put it — the DuckDB tables and the materialization metadata in
the Dagster instance — so the summary cannot disagree with the UI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dagster as dg

from deita_assets.core.comparison import comparison_rows
from deita_assets.storage.paths import artifacts_dir

if TYPE_CHECKING:
    from deita_assets.app.graph_runner import RunOutcome

LLM_COUNTERS = ("requests", "cache_hits", "http_requests", "failed", "prompt_tokens", "completion_tokens")


@dataclass
class RunSummary:
    runs: int
    runs_failed: list[str]
    wall_seconds: float
    stage_seconds: dict[str, float]
    pool: dict[str, int]
    llm: dict[str, int]
    scored: dict[str, int]
    embedded: dict[str, int]
    comparison: list[dict[str, Any]]
    paths: dict[str, str] = field(default_factory=dict)


def stage_seconds(outcomes: Sequence[RunOutcome]) -> dict[str, float]:
    """Seconds per asset, summed over its partitions."""
    totals: dict[str, float] = {}
    for outcome in outcomes:
        name = ", ".join(k.to_user_string() for k in outcome.run.asset_keys)
        totals[name] = totals.get(name, 0.0) + outcome.seconds
    return totals


def llm_usage(instance: dg.DagsterInstance, run_ids: Sequence[str]) -> dict[str, int]:
    """LLM counters summed over the materializations of these runs (`llm_*` metadata)."""
    totals = dict.fromkeys(LLM_COUNTERS, 0)
    for run_id in run_ids:
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            metadata = entry.asset_materialization.metadata if entry.asset_materialization else {}
            for name in LLM_COUNTERS:
                value = metadata.get(f"llm_{name}")
                if value is not None:
                    totals[name] += int(value.value)
    return totals


def collect_summary(
    instance: dg.DagsterInstance, outcomes: Sequence[RunOutcome], wall_seconds: float
) -> RunSummary:
    from deita_assets.resources.store import DuckDBStore

    store = DuckDBStore()
    pool = store.fetch_arrow("select_summary_ingest").to_pylist()[0]
    scored: dict[str, int] = {}
    for row in store.fetch_arrow("select_pool_scores_status").to_pylist():
        scored[row["status"]] = scored.get(row["status"], 0) + row["n"]
    embedded = {r["spec"]: r["n"] for r in store.fetch_arrow("select_summary_embeddings").to_pylist()}
    evaluation = store.fetch_arrow("select_evaluation").to_pylist()
    training = store.fetch_arrow("select_training_runs").to_pylist()
    return RunSummary(
        runs=len(outcomes),
        runs_failed=[o.run.label for o in outcomes if not o.success],
        wall_seconds=wall_seconds,
        stage_seconds=stage_seconds(outcomes),
        pool={k: int(v) for k, v in pool.items()},
        llm=llm_usage(instance, [o.run_id for o in outcomes if o.run_id]),
        scored=scored,
        embedded=embedded,
        comparison=comparison_rows(evaluation, training) if evaluation else [],
        paths={
            "exports": str(artifacts_dir("selection")),
            "comparison plot": str(artifacts_dir("comparison") / "strategy_comparison.png"),
            "store": str(store.path),
        },
    )


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.4f}"


def comparison_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per strategy: rows trained and the reference-answer NLL change vs the base model."""
    lines = [f"  {'strategy':<18} {'rows':>5} {'steps':>5}  {'Δ NLL MT-Bench':>14}  {'Δ NLL hold-out':>14}"]
    for row in rows:
        if row["strategy"] == "base":
            lines.append(
                f"  {'base (untuned)':<18} {'':>5} {'':>5}  {row.get('mt_bench_nll') or 0:>14.4f}"
                f"  {row.get('pool_holdout_nll') or 0:>14.4f}   (NLL, nats/token)"
            )
            continue
        lines.append(
            f"  {row['strategy']:<18} {row['train_rows'] or 0:>5} {row['steps'] or 0:>5}"
            f"  {_signed(row.get('mt_bench_nll_delta')):>14}"
            f"  {_signed(row.get('pool_holdout_nll_delta')):>14}"
        )
    return lines


def format_summary(summary: RunSummary) -> str:
    pool, llm = summary.pool, summary.llm
    ok = summary.runs - len(summary.runs_failed)
    lines = [
        "",
        f"== {ok} of {summary.runs} runs succeeded in {summary.wall_seconds / 60:.1f} min ==",
        *(f"   FAILED: {label}" for label in summary.runs_failed),
        f"pool      {pool['shards']} shards, {pool['rows_read']} rows read: {pool['rows_kept']} kept, "
        f"{pool['rows_quarantined']} quarantined, {pool['duplicates']} duplicates",
        f"LLM       {llm['requests']} requests ({llm['cache_hits']} from the cache, {llm['http_requests']} "
        f"sent), {llm['prompt_tokens'] + llm['completion_tokens']} tokens, {llm['failed']} failed",
        "scored    " + (", ".join(f"{n} {status}" for status, n in sorted(summary.scored.items())) or "none"),
        "embedded  " + (", ".join(f"{n} by {spec}" for spec, n in summary.embedded.items()) or "none"),
        "slowest   "
        + ", ".join(
            f"{name} {seconds:.0f} s"
            for name, seconds in sorted(summary.stage_seconds.items(), key=lambda kv: -kv[1])[:5]
        ),
    ]
    if summary.comparison:
        lines += ["strategies at equal budget (lower NLL is better; Δ vs the base model):"]
        lines += comparison_lines(summary.comparison)
    lines += [f"{name:<9} {path}" for name, path in summary.paths.items()]
    lines += ["UI        python -m deita_assets dev   ->  http://127.0.0.1:3000 (lineage, metadata, plots)"]
    return "\n".join(lines)
