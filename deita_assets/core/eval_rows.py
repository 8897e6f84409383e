"""Rows of the evaluation tables, built from measurements: the hold-out list, NLL and judge summaries.

Kept apart from the assets so the shape of each row (what a reader of `evaluations` or
`eval_holdout` sees) is tested without Dagster, a store or a model download.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from deita_assets.core import judge
from deita_assets.core.evaluation import MT_BENCH, MT_BENCH_OVERLAP, POOL_HOLDOUT, EvalItem, reference_nll


def holdout_rows(
    mt_bench: Sequence[EvalItem], overlap: Iterable[tuple[str, str]], held: Iterable[EvalItem]
) -> list[dict[str, Any]]:
    """`eval_holdout` rows: each MT-Bench turn, each pool row repeating one, each held-out pool turn."""
    rows = [
        {
            "row_id": item.item_id,
            "benchmark": MT_BENCH,
            "prompt": question,
            "reference": item.references[k] if item.references else None,
        }
        for item in mt_bench
        for k, question in enumerate(item.questions)
    ]
    rows += [
        {"row_id": row_id, "benchmark": MT_BENCH_OVERLAP, "prompt": prompt, "reference": None}
        for row_id, prompt in overlap
    ]
    for item in held:
        references = item.references or ()
        rows += [
            {
                "row_id": item.item_id,
                "benchmark": POOL_HOLDOUT,
                "prompt": question,
                "reference": references[k] if k < len(references) else None,
            }
            for k, question in enumerate(item.questions)
        ]
    return rows


def nll_rows(
    model: Any, tokenizer: Any, name: str, items: Sequence[EvalItem], max_length: int, batch_size: int
) -> list[dict[str, Any]]:
    """One evaluation row per benchmark: token-weighted mean NLL of reference answers."""
    rows = []
    for benchmark in (MT_BENCH, POOL_HOLDOUT):
        scored = [i for i in items if i.benchmark == benchmark and i.references]
        if not scored:
            continue
        result = reference_nll(
            model, tokenizer, [i.reference_conversation() for i in scored], max_length, batch_size
        )
        rows.append(
            {
                "strategy": name,
                "benchmark": benchmark,
                "metric": "reference_nll",
                "value": result.mean_nll,
                "n": result.n_items,
                "detail": f"{result.n_tokens} tokens, {result.n_truncated} truncated",
            }
        )
    return rows


def judge_summary_rows(name: str, judgments: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluation rows from judgments: mean 1–10 grade and win rate vs base, with failure counts."""
    rows = []
    grades = [j for j in judgments if j["kind"] == judge.SINGLE]
    scored = [j["score"] for j in grades if j["score"] is not None]
    if grades:
        rows.append(
            {
                "strategy": name,
                "benchmark": MT_BENCH,
                "metric": "judge_score",
                "value": sum(scored) / len(scored) if scored else None,
                "n": len(scored),
                "detail": f"{len(grades) - len(scored)} of {len(grades)} unparseable or failed",
            }
        )
    verdicts = {
        (j["item_id"], j["kind"]): judge.ParsedVerdict(j["verdict"], j["parse_status"])
        for j in judgments
        if j["kind"] != judge.SINGLE
    }
    if verdicts:
        outcome = judge.win_rate(judge.pairwise_outcomes(verdicts))
        rows.append(
            {
                "strategy": name,
                "benchmark": MT_BENCH,
                "metric": "win_rate_vs_base",
                "value": outcome.win_rate,
                "n": outcome.n_scored,
                "detail": f"{outcome.n_failed} failed, {outcome.n_inconsistent} order-inconsistent",
            }
        )
    return rows
