"""finetuned_model -> model_evaluation -> strategy_comparison on a tiny real run, judge on a test server."""

import json
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from deita_assets.assets.evaluation import (
    base_model_evaluation,
    eval_holdout,
    model_evaluation,
    no_eval_prompt_in_any_selection,
    strategy_comparison,
)
from deita_assets.assets.training import finetuned_model
from deita_assets.core.judge import CANDIDATE_FIRST, CANDIDATE_SECOND, SINGLE
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.trainer import TrainerResource
from deita_assets_tests.support.llm_test_server import LLMTestServer
from deita_assets_tests.support.store_rows import add_rows

pytestmark = pytest.mark.slow

MT_BENCH_QUESTIONS = [
    {"question_id": 1, "category": "writing", "turns": ["Write one sentence about rain.", "Shorter."]},
    {"question_id": 2, "category": "math", "turns": ["What is 12 times 3?", "And divided by 4?"]},
    {"question_id": 3, "category": "coding", "turns": ["Name a sorting algorithm.", "Its complexity?"]},
]
MT_BENCH_REFERENCES = [
    {"question_id": 2, "choices": [{"index": 0, "turns": ["12 times 3 is 36.", "36 divided by 4 is 9."]}]},
]

SELECTION_ROWS = "seeded-selection"  # the fixture's selection partition, rewritten by a test


def conversation(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


POOL = {
    "g1": ("gpteacher", conversation("What colour is the sky on a clear day?", "It is blue.")),
    "g2": ("gpteacher", conversation("Name a large mammal of the sea.", "The blue whale.")),
    "g3": ("gpteacher", conversation("What do bees make?", "Bees make honey.")),
    "l1": ("lima", conversation("Give me a synonym of happy.", "Joyful.")),
    "l2": ("lima", conversation("What is the opposite of cold?", "Hot.")),
    # repeats an MT-Bench prompt with cosmetic changes: must be caught by text, not id
    "leak": ("alpaca", conversation("what is 12 TIMES 3", "36")),
}


def judge_reply(body: dict) -> str:
    system = body["messages"][0]["content"]
    if "compare two answers" in system:
        return "A looks better.\nVerdict: [[A]]"  # always position A: a position-biased judge
    if "sorting algorithm" in body["messages"][-1]["content"]:
        return "I cannot decide."  # unparseable: must be recorded, not scored
    return "Fine.\nRating: [[6]]"


@pytest.fixture
def seeded_store(store, tmp_path: Path):
    pool = pa.Table.from_pylist(
        [
            {
                "shard": "s",
                "row_id": rid,
                "source": src,
                "source_file": f"{src}.json",
                "position": i,
                "format": "alpaca",
                "turns": turns,
                "n_turns": len(turns),
                "n_chars": 10,
            }
            for i, (rid, (src, turns)) in enumerate(POOL.items())
        ]
    )
    selection = pa.Table.from_pylist(
        [
            {
                "strategy": strategy,
                "row_id": rid,
                "examined_order": k,
                "score": 1.0,
                "kept": True,
                "reason": "kept",
            }
            for strategy, rows in {"deita": ["g1", "g2", "g3", "l1"], "random": ["g2", "leak"]}.items()
            for k, rid in enumerate(rows)
        ]
    )
    add_rows(store, "pool", pool)
    add_rows(store, "selection", selection, replaces=SELECTION_ROWS)
    bench = tmp_path / "mt_bench"
    (bench / "reference_answer").mkdir(parents=True)
    (bench / "question.jsonl").write_text("\n".join(json.dumps(q) for q in MT_BENCH_QUESTIONS))
    (bench / "reference_answer" / "gpt-4.jsonl").write_text(
        "\n".join(json.dumps(r) for r in MT_BENCH_REFERENCES)
    )
    return store, bench


def test_train_evaluate_compare(seeded_store, small_llm_dir):
    store, bench = seeded_store
    with LLMTestServer(responder=judge_reply) as server:
        resources = {
            "store": store,
            "trainer": TrainerResource(base_model=str(small_llm_dir), mt_bench_dir=str(bench)),
            "llm": LLMResource(store=store, base_url=server.base_url, model="judge", backend_label="test"),
        }
        evaluation = {"nll_max_length": 128, "judge_questions": 3, "max_new_tokens": 6}
        first = dg.materialize(
            [eval_holdout, base_model_evaluation],
            resources=resources,
            run_config={
                "ops": {
                    "eval_holdout": {"config": {"holdout_sources": ["lima"], "holdout_size": 2}},
                    "base_model_evaluation": {"config": evaluation},
                }
            },
        )
        assert first.success
        second = dg.materialize(
            [finetuned_model, model_evaluation],
            resources=resources,
            partition_key="deita",
            run_config={
                "ops": {
                    "finetuned_model": {
                        "config": {"max_steps": 2, "batch_size": 2, "max_length": 64, "save_steps": 2}
                    },
                    "model_evaluation": {"config": evaluation},
                }
            },
        )
        assert second.success
        holdout_config = {
            "ops": {"eval_holdout": {"config": {"holdout_sources": ["lima"], "holdout_size": 2}}}
        }
        third = dg.materialize(
            [eval_holdout, strategy_comparison, no_eval_prompt_in_any_selection],
            resources=resources,
            run_config=holdout_config,
        )
        assert third.success

    (leak_check,) = third.get_asset_check_evaluations()
    assert not leak_check.passed
    assert leak_check.metadata["leaked_rows"].value == 2  # "leak" by normalized text, "l1" by id
    assert leak_check.metadata["leaked_by_text"].value >= 1
    assert leak_check.metadata["strategies_with_leaks"].value == "deita, random"
    with store.get_connection() as conn:
        clean_rows = conn.sql("SELECT * FROM stored.selection WHERE row_id NOT IN ('leak', 'l1')")
        add_rows(store, "selection", clean_rows.to_arrow_table(), replaces=SELECTION_ROWS)
    clean = dg.materialize(
        [eval_holdout, no_eval_prompt_in_any_selection], resources=resources, run_config=holdout_config
    )
    assert clean.get_asset_check_evaluations()[0].passed

    holdout = store.fetch_arrow("select_eval_holdout").to_pylist()
    by_benchmark = {}
    for row in holdout:
        by_benchmark.setdefault(row["benchmark"], set()).add(row["row_id"])
    assert by_benchmark["pool_holdout"] == {"l1", "l2"}
    assert by_benchmark["mt_bench_overlap"] == {"leak"}
    assert len(by_benchmark["mt_bench"]) == 3

    train_meta = second.asset_materializations_for_node("finetuned_model")[0].metadata
    assert train_meta["rows_held_out_excluded"].value == 1  # l1 was selected but is held out
    assert train_meta["dagster/row_count"].value == 3
    assert train_meta["final_loss"].value < train_meta["first_loss"].value + 1e-6
    (run,) = store.fetch_arrow("select_training_runs").to_pylist()
    assert run["strategy"] == "deita" and run["n_rows"] == 3 and run["steps"] == 2

    rows = {
        (r["strategy"], r["benchmark"], r["metric"]): r
        for r in store.fetch_arrow("select_evaluation").to_pylist()
    }
    for name in ("base", "deita"):
        assert rows[(name, "mt_bench", "reference_nll")]["n"] == 1
        assert rows[(name, "pool_holdout", "reference_nll")]["n"] == 2
        judge_row = rows[(name, "mt_bench", "judge_score")]
        assert judge_row["value"] == 6.0 and judge_row["n"] == 2 and judge_row["detail"].startswith("1 of 3")
    win = rows[("deita", "mt_bench", "win_rate_vs_base")]
    assert win["value"] == 0.5 and win["n"] == 3 and win["detail"] == "0 failed, 3 order-inconsistent"
    assert ("base", "mt_bench", "win_rate_vs_base") not in rows

    with store.get_connection() as conn:
        kinds = conn.execute(
            "SELECT kind, parse_status, count(*) FROM eval_judgments WHERE strategy = 'deita' GROUP BY ALL"
        ).fetchall()
    assert sorted(kinds) == sorted(
        [
            (CANDIDATE_FIRST, "ok", 3),
            (CANDIDATE_SECOND, "ok", 3),
            (SINGLE, "ok", 2),
            (SINGLE, "unparseable", 1),
        ]
    )

    comparison = third.asset_materializations_for_node("strategy_comparison")[0].metadata
    assert comparison["plot"].value.startswith("![strategy comparison](data:image/png;base64,")
    assert comparison["strategies_evaluated"].value == "base, deita"
    assert "SmolLM2" not in comparison["judge_warning"].value  # a configured endpoint: no local warning
