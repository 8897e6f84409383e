"""Side-by-side comparison of strategies: one table (deltas against the base model) and one plot."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
    """Bars of the NLL change vs base per benchmark, and the judge's grade per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["strategy"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
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
    grades = [r.get("mt_bench_judge_score") for r in rows]
    right.bar(range(len(rows)), [g or 0.0 for g in grades], color="tab:green")
    for i, grade in enumerate(grades):
        if grade is None:  # not judged (or every verdict failed): say so instead of drawing a zero
            right.text(i, 0.3, "not judged", ha="center", rotation=90, fontsize=8)
    right.set_xticks(range(len(rows)), names, rotation=30, ha="right")
    right.set_ylim(0, 10)
    right.set_ylabel("judge grade (1–10)")
    right.set_title("MT-Bench-style judge grade")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def markdown_image(path: Path, alt: str = "strategy comparison") -> str:
    """The PNG inlined as a data URI, which the Dagster UI renders inside markdown metadata."""
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"![{alt}](data:image/png;base64,{encoded})"
