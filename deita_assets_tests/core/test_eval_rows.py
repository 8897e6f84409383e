"""Rows of eval_holdout and evaluations, built without Dagster or a store."""

import math

from deita_assets.core import judge
from deita_assets.core.eval_rows import holdout_rows, judge_summary_rows, nll_rows
from deita_assets.core.evaluation import MT_BENCH, MT_BENCH_OVERLAP, POOL_HOLDOUT, EvalItem, reference_nll


def item(item_id: str, benchmark: str, questions: tuple[str, ...], references=None) -> EvalItem:
    return EvalItem(item_id, benchmark, "writing", questions, references)


def test_holdout_rows_list_every_turn_overlap_and_held_row_in_order():
    mt_bench = [item("mt-1", MT_BENCH, ("q1", "q2"), ("r1", "r2")), item("mt-2", MT_BENCH, ("q3",))]
    held = [item("pool-9", POOL_HOLDOUT, ("p1", "p2"), ("a1",))]
    rows = holdout_rows(mt_bench, [("pool-3", "q1")], held)
    assert [(r["row_id"], r["benchmark"], r["prompt"], r["reference"]) for r in rows] == [
        ("mt-1", MT_BENCH, "q1", "r1"),
        ("mt-1", MT_BENCH, "q2", "r2"),
        ("mt-2", MT_BENCH, "q3", None),
        ("pool-3", MT_BENCH_OVERLAP, "q1", None),
        ("pool-9", POOL_HOLDOUT, "p1", "a1"),
        ("pool-9", POOL_HOLDOUT, "p2", None),  # a later turn without a reference answer
    ]


def judgment(item_id: str, kind: str, score=None, verdict=None, status="ok") -> dict:
    return {"item_id": item_id, "kind": kind, "score": score, "verdict": verdict, "parse_status": status}


def test_judge_summary_counts_failed_grades_and_inconsistent_orders():
    judgments = [
        judgment("a", judge.SINGLE, score=8.0),
        judgment("b", judge.SINGLE, score=None, status="unparseable"),
        judgment("c", judge.SINGLE, score=6.0),
        judgment("a", judge.CANDIDATE_FIRST, verdict="A"),  # candidate wins in both orders
        judgment("a", judge.CANDIDATE_SECOND, verdict="B"),
        judgment("b", judge.CANDIDATE_FIRST, verdict="A"),  # follows position: inconsistent, 0.5
        judgment("b", judge.CANDIDATE_SECOND, verdict="A"),
        judgment("c", judge.CANDIDATE_FIRST, verdict=None, status="unparseable"),
        judgment("c", judge.CANDIDATE_SECOND, verdict="B"),
    ]
    grade, wins = judge_summary_rows("deita", judgments)
    assert grade == {
        "strategy": "deita",
        "benchmark": MT_BENCH,
        "metric": "judge_score",
        "value": 7.0,
        "n": 2,
        "detail": "1 of 3 unparseable or failed",
    }
    assert wins["metric"] == "win_rate_vs_base" and wins["n"] == 2
    assert wins["value"] == 0.75
    assert wins["detail"] == "1 failed, 1 order-inconsistent"


def test_judge_summary_of_no_judgments_is_no_rows():
    assert judge_summary_rows("base", []) == []


def test_nll_rows_are_the_reference_nll_per_benchmark(small_llm_dir):
    from deita_assets.core.training import load_trained

    model, tokenizer = load_trained(small_llm_dir)
    items = [
        item("mt-1", MT_BENCH, ("Name a colour.",), ("Blue.",)),
        item("mt-2", MT_BENCH, ("Say hi.",)),  # no reference: not scored
        item("pool-1", POOL_HOLDOUT, ("Add 2 and 3.",), ("5",)),
    ]
    rows = nll_rows(model, tokenizer, "base", items, max_length=64, batch_size=2)
    assert [(r["benchmark"], r["n"]) for r in rows] == [(MT_BENCH, 1), (POOL_HOLDOUT, 1)]
    expected = reference_nll(model, tokenizer, [items[0].reference_conversation()], 64, 2)
    assert math.isclose(rows[0]["value"], expected.mean_nll, rel_tol=1e-6)
    assert rows[0]["detail"] == f"{expected.n_tokens} tokens, 0 truncated"
