"""Stage: held-out evaluation of every fine-tune against the base model, and the strategy comparison.

Eval data never enters training: `eval_holdout` lists MT-Bench prompts (shipped in samples/eval,
never ingested) and a seeded split of reference-quality pool rows; selection excludes those row ids,
training drops any that slip through, and an asset check compares normalized prompt text of every
selected row against every eval prompt.
"""

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import dagster as dg
import pyarrow as pa
from pydantic import Field

from deita_assets.assets.training import HEAVY
from deita_assets.core import judge
from deita_assets.core.comparison import comparison_rows, equal_budget, plot_comparison
from deita_assets.core.eval_rows import holdout_rows, judge_summary_rows, nll_rows
from deita_assets.core.evaluation import (
    POOL_HOLDOUT,
    EvalItem,
    choose_holdout,
    find_leaks,
    generate_answers,
    holdout_items,
    load_mt_bench,
    normalize_prompt,
    spread_over_categories,
)
from deita_assets.core.llm_types import ChatRequest
from deita_assets.core.plots import markdown_image
from deita_assets.core.report import markdown_table
from deita_assets.core.training import load_trained
from deita_assets.orchestration.partitions import strategy
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.store import DuckDBStore, typed_rows
from deita_assets.resources.trainer import TrainerResource

BASE = "base"
LOCAL_JUDGE_WARNING = (
    "The offline judge would be SmolLM2-135M-Instruct: far too weak to grade answers (it ignores the "
    "rubric and favours one position), so with judge='auto' it does not run and no answers are "
    "generated for it. Reference-answer NLL is the offline measurement; configure a strong endpoint "
    "(DEITA_LLM_BASE_URL / DEITA_LLM_MODEL) for judge grades and win rates, or set judge='always'."
)


class EvalHoldoutConfig(dg.Config):
    holdout_sources: list[str] = Field(
        default=["lima", "gpteacher"],
        description="Pool sources whose rows are reference quality (human-curated or GPT-4 answers).",
    )
    holdout_size: int = Field(default=40, ge=0, description="Pool rows held out (single-turn rows only).")
    seed: int = Field(default=0)


@dg.asset(deps=["raw_pool"], group_name="evaluation", kinds={"duckdb"})
def eval_holdout(
    context: dg.AssetExecutionContext, config: EvalHoldoutConfig, store: DuckDBStore, trainer: TrainerResource
) -> dg.MaterializeResult:
    """Everything evaluation uses, listed so selection can exclude it: MT-Bench prompts, pool rows that
    repeat an MT-Bench prompt, and a seeded split of reference-quality pool rows."""
    mt_bench = load_mt_bench(trainer.mt_bench_path())
    pool_prompts = [
        (r["row_id"], r["prompt"]) for r in store.fetch_arrow("select_pool_user_prompts").to_pylist()
    ]
    overlap = find_leaks([q for item in mt_bench for q in item.questions], pool_prompts)
    candidates = store.fetch_arrow("select_holdout_candidates", [config.holdout_sources]).to_pylist()
    chosen = set(
        choose_holdout([(c["row_id"], c["source"]) for c in candidates], config.holdout_size, config.seed)
    )
    held = [c for c in candidates if c["row_id"] in chosen]
    rows = holdout_rows(mt_bench, overlap, holdout_items((c["row_id"], c["turns"]) for c in held))
    table = typed_rows("eval_holdout", rows)
    store.replace_partition("eval_holdout", [], table)
    sources = dict(Counter(c["source"] for c in held))
    if len(held) < config.holdout_size:
        context.log.warning(f"only {len(held)} of {config.holdout_size} hold-out rows available")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.num_rows,
            "mt_bench_questions": len(mt_bench),
            "mt_bench_with_reference": sum(1 for i in mt_bench if i.references),
            "pool_rows_repeating_mt_bench": len(overlap),
            "pool_holdout_rows": len(held),
            "pool_holdout_shortfall": config.holdout_size - len(held),
            "pool_holdout_sources": dg.MetadataValue.json(sources),
        }
    )


class EvaluationConfig(dg.Config):
    nll_max_length: int = Field(default=1024, description="Tokens per reference conversation for NLL.")
    nll_batch_size: int = Field(default=4, ge=1)
    judge_questions: int = Field(
        default=8, ge=0, description="MT-Bench questions answered and judged (round-robin over categories)."
    )
    judge_turns: int = Field(default=1, ge=1, le=2, description="MT-Bench turns answered (2 = full bench).")
    max_new_tokens: int = Field(default=128, ge=1, description="Generated tokens per answer.")
    generation_batch_size: int = Field(default=8, ge=1)
    judge_max_tokens: int = Field(default=256, description="Tokens the judge may write per verdict.")
    judge: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="auto: answer and judge only when the llm resource points at an endpoint "
        "(the bundled 135M model cannot grade); always / never force it.",
    )

    def judge_runs(self, llm: LLMResource) -> bool:
        return self.judge == "always" or (self.judge == "auto" and llm.base_url is not None)


def _eval_items(store: DuckDBStore, trainer: TrainerResource) -> tuple[list[EvalItem], list[EvalItem]]:
    """(MT-Bench items, pool hold-out items with their conversations from the pool)."""
    mt_bench = load_mt_bench(trainer.mt_bench_path())
    rows = store.fetch_arrow("select_holdout_conversations", [POOL_HOLDOUT]).to_pylist()
    return mt_bench, holdout_items((r["row_id"], r["turns"]) for r in rows)


def _judge_items(mt_bench: list[EvalItem], config: EvaluationConfig) -> list[tuple[str, list[str], Any]]:
    chosen = spread_over_categories(mt_bench, config.judge_questions)
    return [
        (
            item.item_id,
            list(item.questions[: config.judge_turns]),
            list(item.references[: config.judge_turns]) if item.references else None,
        )
        for item in chosen
    ]


def _answers_table(
    name: str, model_path: str, items: Sequence[tuple[str, list[str], Any]], answers: list[list[str]]
) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "strategy": name,
                "item_id": item_id,
                "turn": k + 1,
                "question": questions[k],
                "answer": answer,
                "model_path": model_path,
            }
            for (item_id, questions, _refs), item_answers in zip(items, answers, strict=True)
            for k, answer in enumerate(item_answers)
        ]
    )


def _run_judge(
    session: Any, tasks: list[judge.JudgeTask], config: EvaluationConfig, name: str
) -> list[dict[str, Any]]:
    """Send the tasks through the LLM layer; parse every reply; keep failures with their raw text."""
    requests = [
        ChatRequest(
            messages=tuple(t.messages),
            template_version=judge.JUDGE_TEMPLATE_VERSION,
            temperature=0.0,
            max_tokens=config.judge_max_tokens,
        )
        for t in tasks
    ]
    results = session.chat_many(requests)
    rows = []
    for task, result in zip(tasks, results, strict=True):
        if task.kind == judge.SINGLE:
            grade = judge.parse_single_grade(result.text)
            score, verdict, status = grade.score, None, grade.status
        else:
            parsed = judge.parse_pairwise(result.text)
            score, verdict, status = None, parsed.winner, parsed.status
        rows.append(
            {
                "strategy": name,
                "item_id": task.item_id,
                "kind": task.kind,
                "score": score,
                "verdict": verdict,
                "parse_status": status if result.ok else "request_failed",
                "error_kind": result.error_kind,
                "raw_reply": result.text,
                "backend": result.backend,
                "judge_model": result.model,
                "llm_request_key": result.request_key,
            }
        )
    return rows


def evaluate_model(
    name: str,
    model_path: str,
    store: DuckDBStore,
    trainer: TrainerResource,
    llm: LLMResource,
    config: EvaluationConfig,
    baseline_answers: dict[str, list[str]] | None,
) -> dict[str, Any]:
    """NLL, generated answers and judge verdicts for one model; writes its rows; returns metadata."""
    trainer.prepare()
    mt_bench, holdout = _eval_items(store, trainer)
    model, tokenizer = load_trained(model_path)
    rows = nll_rows(model, tokenizer, name, mt_bench + holdout, config.nll_max_length, config.nll_batch_size)
    items = _judge_items(mt_bench, config) if config.judge_runs(llm) else []
    answers = (
        generate_answers(
            model, tokenizer, [q for _i, q, _r in items], config.max_new_tokens, config.generation_batch_size
        )
        if items
        else []
    )
    del model
    by_item = {item_id: a for (item_id, _q, _r), a in zip(items, answers, strict=True)}
    tasks = judge.single_tasks(items, by_item)
    if baseline_answers is not None:
        tasks += judge.pairwise_tasks(items, by_item, baseline_answers)
    judgments: list[dict[str, Any]] = []
    usage: dict[str, Any] = {}
    if tasks:
        with llm.session() as session:
            judgments = _run_judge(session, tasks, config, name)
            usage = session.usage_metadata()
    rows += judge_summary_rows(name, judgments)
    _write_partition(store, name, rows, _answers_table(name, model_path, items, answers), judgments)
    return {
        "dagster/row_count": len(rows),
        "evaluation": dg.MetadataValue.md(markdown_table(rows)),
        "judge_failures": sum(1 for j in judgments if j["parse_status"] not in ("ok", "lenient")),
        "judge": "ran" if items else "skipped",
        "judge_warning": LOCAL_JUDGE_WARNING if llm.base_url is None else "",
        "answers_preview": dg.MetadataValue.md(
            markdown_table(
                [{"item": i, "answer": a[0] if a else ""} for i, a in list(by_item.items())[:4]],
                max_chars=200,
            )
        ),
        **usage,
    }


def _write_partition(
    store: DuckDBStore,
    name: str,
    rows: list[dict[str, Any]],
    answers: pa.Table,
    judgments: list[dict[str, Any]],
) -> None:
    """The strategy's metrics, answers and judgments as one commit: all three land, or none."""
    tables = {
        "evaluation": pa.Table.from_pylist(rows),
        "eval_answers": answers,
        "eval_judgments": pa.Table.from_pylist(judgments),
    }
    store.commit("evaluation", [name], tables)


def stored_answers(store: DuckDBStore, name: str) -> dict[str, list[str]]:
    answers: dict[str, list[str]] = {}
    for row in store.fetch_arrow("select_eval_answers", [name]).to_pylist():
        answers.setdefault(row["item_id"], []).append(row["answer"])
    return answers


@dg.asset(deps=[eval_holdout], group_name="evaluation", tags=HEAVY, op_tags=HEAVY, kinds={"pytorch"})
def base_model_evaluation(
    config: EvaluationConfig, store: DuckDBStore, trainer: TrainerResource, llm: LLMResource
) -> dg.MaterializeResult:
    """The untuned base model on the same held-out set: the reference row every strategy is measured
    against (NLL deltas, and the opponent of the pairwise judge)."""
    meta = evaluate_model(BASE, trainer.base_model, store, trainer, llm, config, baseline_answers=None)
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    partitions_def=strategy,
    deps=["finetuned_model", base_model_evaluation],
    group_name="evaluation",
    tags=HEAVY,
    op_tags=HEAVY,
    kinds={"pytorch"},
)
def model_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    store: DuckDBStore,
    trainer: TrainerResource,
    llm: LLMResource,
) -> dg.MaterializeResult:
    """This strategy's fine-tune on the held-out set: reference NLL, judge grade, win rate vs base."""
    run = store.fetch_arrow("select_training_run", [context.partition_key]).to_pylist()
    if not run:
        raise dg.Failure(f"no training run recorded for strategy {context.partition_key!r}")
    baseline = stored_answers(store, BASE)
    meta = evaluate_model(context.partition_key, run[0]["model_path"], store, trainer, llm, config, baseline)
    return dg.MaterializeResult(metadata=meta)


@dg.asset_check(asset=eval_holdout, blocking=False)
def no_eval_prompt_in_any_selection(store: DuckDBStore) -> dg.AssetCheckResult:
    """No kept row of any strategy has a user prompt equal (normalized) to an eval prompt or hold-out id."""
    held = store.fetch_arrow("select_eval_holdout").to_pylist()
    selected = store.fetch_arrow("select_selected_user_prompts").to_pylist()
    held_ids = {h["row_id"] for h in held}
    by_text = find_leaks([h["prompt"] for h in held], [(s["row_id"], s["prompt"]) for s in selected])
    by_id = sorted({s["row_id"] for s in selected if s["row_id"] in held_ids})
    leaks = sorted({row_id for row_id, _ in by_text} | set(by_id))
    strategies = sorted({s["strategy"] for s in selected if s["row_id"] in set(leaks)})
    return dg.AssetCheckResult(
        passed=not leaks,
        metadata={
            "eval_prompts": len({normalize_prompt(h["prompt"]) for h in held}),
            "selected_prompts_checked": len(selected),
            "leaked_rows": len(leaks),
            "leaked_by_id": len(by_id),
            "leaked_by_text": len(by_text),
            "strategies_with_leaks": ", ".join(strategies) or "none",
            "examples": dg.MetadataValue.md(
                markdown_table([{"row_id": r, "prompt": p} for r, p in by_text[:5]], max_chars=120)
            ),
        },
    )


@dg.asset(
    deps=[model_evaluation, base_model_evaluation],
    group_name="evaluation",
    kinds={"duckdb"},
    automation_condition=dg.AutomationCondition.eager(),
)
def strategy_comparison(store: DuckDBStore, llm: LLMResource) -> dg.MaterializeResult:
    """Every evaluated strategy beside the base model in one table and one plot: did the selection
    train a better model at the same budget?"""
    evaluation = store.fetch_arrow("select_evaluation").to_pylist()
    training = store.fetch_arrow("select_training_runs").to_pylist()
    rows = comparison_rows(evaluation, training)
    if not rows:
        raise dg.Failure("nothing evaluated yet: materialize base_model_evaluation and model_evaluation")
    png = plot_comparison(rows, store.artifacts_dir("comparison") / "strategy_comparison.png")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "comparison": dg.MetadataValue.md(markdown_table(rows)),
            "plot": dg.MetadataValue.md(markdown_image(png, "strategy comparison")),
            "plot_path": dg.MetadataValue.path(str(png)),
            "equal_budget": equal_budget(rows),
            "strategies_evaluated": ", ".join(r["strategy"] for r in rows),
            "full_pool_reference": "not run: fine-tuning on the whole pool is not affordable on this CPU; "
            "evaluate a 'full pool' model by pointing a strategy at it when you have the compute",
            "judge_warning": LOCAL_JUDGE_WARNING if llm.base_url is None else "",
        }
    )
