"""Side-by-side comparison of strategies: one table (deltas against the base model) and one plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deita_assets.core.plots import pyplot, save_figure

BASE = "base"
NLL_METRICS = (("mt_bench", "reference_nll"), ("pool_holdout", "reference_nll"))
JUDGE_METRICS = (("mt_bench", "judge_score"), ("mt_bench", "win_rate_vs_base"))


def _column(benchmark: str, metric: str) -> str:
    return f"{benchmark}_{metric}".replace("reference_nll", "nll")


def comparison_rows(
    evaluation: Sequence[Mapping[str, Any]], training: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One row per evaluated model (base first): training size/steps, NLLs with deltas vs base, judge.

    Negative NLL deltas mean the fine-tune assigns higher likelihood to the reference answers.
    """
    values: dict[str, dict[str, Any]] = {}
    for row in evaluation:
        values.setdefault(row["strategy"], {})[_column(row["benchmark"], row["metric"])] = row["value"]
    runs = {row["strategy"]: row for row in training}
    base = values.get(BASE, {})
    rows = []
    for name in sorted(values, key=lambda s: (s != BASE, s)):
        row: dict[str, Any] = {
            "strategy": name,
            "train_rows": runs.get(name, {}).get("n_rows"),
            "steps": runs.get(name, {}).get("steps"),
            "final_train_loss": runs.get(name, {}).get("final_loss"),
        }
        for benchmark, metric in NLL_METRICS:
            column = _column(benchmark, metric)
            value = values[name].get(column)
            row[column] = value
            row[f"{column}_delta"] = (
                value - base[column] if value is not None and base.get(column) is not None else None
            )
        for benchmark, metric in JUDGE_METRICS:
            row[_column(benchmark, metric)] = values[name].get(_column(benchmark, metric))
        rows.append(row)
    return rows


def equal_budget(rows: Sequence[Mapping[str, Any]]) -> bool:
    """True when every fine-tuned strategy trained on the same number of rows."""
    sizes = {r["train_rows"] for r in rows if r["strategy"] != BASE}
    return len(sizes) <= 1


def plot_comparison(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Bars of the NLL change vs base per benchmark, and the judge's grade when a judge ran."""
    plt = pyplot()
    names = [r["strategy"] for r in rows]
    grades = [r.get("mt_bench_judge_score") for r in rows]
    judged = any(g is not None for g in grades)
    fig, axes = plt.subplots(1, 2 if judged else 1, figsize=(10 if judged else 6, 4), squeeze=False)
    left = axes[0][0]
    width = 0.4
    for k, (benchmark, metric) in enumerate(NLL_METRICS):
        column = f"{_column(benchmark, metric)}_delta"
        heights = [r.get(column) or 0.0 for r in rows]
        left.bar([i + (k - 0.5) * width for i in range(len(rows))], heights, width, label=benchmark)
    left.axhline(0, color="black", linewidth=0.8)
    left.set_xticks(range(len(rows)), names, rotation=30, ha="right")
    left.set_ylabel("reference-answer NLL − base (nats/token)")
    left.set_title("Likelihood of reference answers (lower is better)")
    left.legend()
    if judged:
        right = axes[0][1]
        right.bar(range(len(rows)), [g or 0.0 for g in grades], color="tab:green")
        for i, grade in enumerate(grades):
            if grade is None:  # not judged (or every verdict failed): say so instead of drawing a zero
                right.text(i, 0.3, "not judged", ha="center", rotation=90, fontsize=8)
        right.set_xticks(range(len(rows)), names, rotation=30, ha="right")
        right.set_ylim(0, 10)
        right.set_ylabel("judge grade (1–10)")
        right.set_title("MT-Bench-style judge grade")
    return save_figure(fig, path)
