"""MoDS (arXiv 2311.15653) selection logic: quality filter, coverage seed, necessity, final explanation.

The unit MoDS works on is an (instruction, response) pair. Pool rows are conversations, so:
- a row's reward is the mean over its (user, assistant) pairs (core.reward.row_reward);
- the instruction embedded for coverage and answered by the seed model is the row's first user turn.
For single-turn Alpaca-style rows both are exactly MoDS's definitions.

Every row that had a reward computed ends up in the explanation with one reason code below, so a
reader can see why it was or was not kept.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deita_assets.core.formats import instruction_response_pairs
from deita_assets.core.kcenter import KCenterResult

# Reason codes (stable strings: stored in `mods_selection` / `selection` and counted).
REWARD_FAILED = "reward_failed"
BELOW_ALPHA = "reward_not_above_alpha"
SEED = "seed_kcenter"
DEMO_CAP = "not_examined_demo_cap"
OWN_ANSWER_UNSCORED = "own_answer_unscored"
NOT_NECESSARY = "own_answer_reward_at_least_beta"
AUGMENTED = "necessary_kcenter"
NECESSARY_NOT_PICKED = "necessary_not_picked"
MISSING_FROM_NECESSITY = "missing_from_necessity_run"
KEPT_REASONS = (SEED, AUGMENTED)

# MoDS's α (quality) and β (necessity) for the scale they were set on: the OpenAssistant reward
# model, Alpaca: α = β = 0.0 (their 214K mix: α = 1.0, β = -1.0).
PAPER_THRESHOLDS = {"hf_sequence_classification": (0.0, 0.0)}


def choose_alpha(
    source_kind: str, configured: float | None, rewards: Sequence[float], quantile: float
) -> tuple[float, str]:
    """α and where it came from: configured; else the paper's value for that scale; else (a scale
    with no published value, e.g. the DEITA quality scorer) the `quantile` of the pool's rewards —
    an absolute number on an uncalibrated scale could keep nothing or everything."""
    if configured is not None:
        return float(configured), "configured"
    if source_kind in PAPER_THRESHOLDS:
        return PAPER_THRESHOLDS[source_kind][0], f"MoDS value for {source_kind}"
    finite = [r for r in rewards if r is not None and math.isfinite(r)]
    if not finite:
        raise ValueError("no finite reward to place alpha by quantile")
    return float(
        np.quantile(np.asarray(finite, dtype=np.float64), quantile)
    ), f"quantile {quantile} of rewards"


def choose_beta(source_kind: str, configured: float | None, alpha: float) -> tuple[float, str]:
    """β: configured; else the paper's value for that scale; else β = α (as MoDS on Alpaca): the seed
    model's own answer must reach the quality bar the pool's rows were held to."""
    if configured is not None:
        return float(configured), "configured"
    if source_kind in PAPER_THRESHOLDS:
        return PAPER_THRESHOLDS[source_kind][1], f"MoDS value for {source_kind}"
    return alpha, "equal to alpha"


def first_instruction(turns: Sequence[Mapping[str, str]]) -> str | None:
    """The first user turn that has an answer: what MoDS embeds and asks the seed model."""
    pairs = instruction_response_pairs(turns)
    return pairs[0][0] if pairs else None


def is_high_quality(reward: float | None, status: str, alpha: float) -> bool:
    """MoDS step 1: keep pairs whose reward is strictly above α (failed scores never pass)."""
    return status == "ok" and reward is not None and math.isfinite(reward) and reward > alpha


def demo_order(row_ids: Sequence[str], seed: int) -> list[int]:
    """A seeded, reproducible shuffle (by salted hash): which rows a demo cap examines first.

    Hash order rather than reward order, so a cap samples the high-quality set without bias.
    """
    return sorted(
        range(len(row_ids)), key=lambda i: hashlib.sha256(f"{seed}:{row_ids[i]}".encode()).hexdigest()
    )


def examined_split(
    rows: Sequence[Mapping[str, Any]], seed_ids: set[str], alpha: float, max_instructions: int, seed: int
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(high-quality non-seed candidates, the seeded demo sample the seed model answers, the rest)."""
    candidates = [
        r for r in rows if is_high_quality(r["reward"], r["status"], alpha) and r["row_id"] not in seed_ids
    ]
    order = demo_order([r["row_id"] for r in candidates], seed)
    examined = [candidates[i] for i in order[:max_instructions]]
    capped = [candidates[i] for i in order[max_instructions:]]
    return candidates, examined, capped


def necessity_status(own_reward: float | None, beta: float) -> str:
    """MoDS step 3: the seed model still needs a row when its own answer scores below β."""
    if own_reward is None or not math.isfinite(own_reward):
        return OWN_ANSWER_UNSCORED
    return NECESSARY_NOT_PICKED if own_reward < beta else NOT_NECESSARY


@dataclass(frozen=True)
class Rewarded:
    row_id: str
    reward: float | None
    status: str


def explain_selection(
    rewarded: Sequence[Rewarded],
    alpha: float,
    seed_ids: Sequence[str],
    necessity: Mapping[str, str],
    augmented_ids: Sequence[str],
    nearest: Mapping[str, tuple[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """One row per rewarded pool row: kept = seed ∪ augmented, every other row with its reason.

    Order: seed picks, then augmented picks (both in k-center order), then the rest by reward
    descending. `necessity` maps high-quality non-seed rows to their necessity status;
    `nearest` gives, where known, the nearest center and its cosine similarity.
    """
    nearest = nearest or {}
    kept_order = [*seed_ids, *augmented_ids]
    if len(set(kept_order)) != len(kept_order):
        raise ValueError("seed and augmented sets overlap")
    kept_reason = {**dict.fromkeys(seed_ids, SEED), **dict.fromkeys(augmented_ids, AUGMENTED)}
    by_id = {r.row_id: r for r in rewarded}
    rest = sorted(
        (r for r in rewarded if r.row_id not in kept_reason),
        key=lambda r: (
            -(r.reward if r.reward is not None and math.isfinite(r.reward) else -math.inf),
            r.row_id,
        ),
    )
    rows = []
    for order, row_id in enumerate([*kept_order, *(r.row_id for r in rest)]):
        item = by_id[row_id]
        if row_id in kept_reason:
            reason = kept_reason[row_id]
        elif item.status != "ok" or item.reward is None or not math.isfinite(item.reward):
            reason = REWARD_FAILED
        elif not is_high_quality(item.reward, item.status, alpha):
            reason = BELOW_ALPHA
        else:
            reason = necessity.get(row_id, MISSING_FROM_NECESSITY)
        near_id, near_sim = nearest.get(row_id, (None, None))
        rows.append(
            {
                "row_id": row_id,
                "examined_order": order,
                "score": item.reward if item.reward is not None and math.isfinite(item.reward) else None,
                "kept": reason in KEPT_REASONS,
                "reason": reason,
                "nearest_row_id": near_id,
                "nearest_sim": near_sim,
            }
        )
    return rows


def finite_or_none(value: float) -> float | None:
    """A stored float: a failed (NaN/inf) score is NULL in the table, never a number."""
    return float(value) if math.isfinite(value) else None


def seed_picks(
    high: Sequence[Mapping[str, Any]], instructions: Sequence[str], run: KCenterResult, **shared: Any
) -> list[dict[str, Any]]:
    """`mods_seed` rows in k-center pick order; `shared` holds what every row of the run records."""
    return [
        {
            "row_id": high[i]["row_id"],
            "shard": high[i]["shard"],
            "pick_order": order,
            "reward": high[i]["reward"],
            "pick_distance": finite_or_none(run.pick_distance[order]),
            "instruction": instructions[i],
            **shared,
        }
        for order, i in enumerate(run.order.tolist())
    ]


def necessity_row(row: Mapping[str, Any], instruction: str, **fields: Any) -> dict[str, Any]:
    """One `mods_necessity` row: the pool row's identity plus what necessity found out about it."""
    base = {
        "row_id": row["row_id"],
        "shard": row["shard"],
        "reward": row["reward"],
        "instruction": instruction,
    }
    return {"necessary": False, "augmented": False, **base, **fields}


def necessity_rows(
    examined: Sequence[Mapping[str, Any]],
    instructions: Sequence[str],
    answers: Sequence[str],
    own_rewards: np.ndarray,
    statuses: Sequence[str],
    necessary: Sequence[int],
    run: KCenterResult,
) -> tuple[list[dict[str, Any]], dict[str, tuple[str, float]]]:
    """Rows for `mods_necessity`, and for necessary-but-unpicked rows their nearest augmented center.

    `necessary` indexes `examined`; `run` is the k-center walk over those necessary rows, so a
    necessary row is augmented exactly when the walk picked it.
    """
    position = {i: j for j, i in enumerate(necessary)}
    pick_order = {j: order for order, j in enumerate(run.order.tolist())}
    table, nearest = [], {}
    for i, row in enumerate(examined):
        j = position.get(i)
        order = pick_order.get(j) if j is not None else None
        fields: dict[str, Any] = {
            "generated": answers[i],
            "own_reward": finite_or_none(own_rewards[i]),
            "status": AUGMENTED if order is not None else statuses[i],
            "necessary": j is not None,
            "augmented": order is not None,
            "pick_order": order,
            "pick_distance": finite_or_none(run.pick_distance[order]) if order is not None else None,
        }
        if j is not None and order is None and run.order.size:
            center = examined[necessary[int(run.nearest_center[j])]]["row_id"]
            nearest[row["row_id"]] = (center, 1.0 - float(run.min_distance[j]))
            fields["nearest_row_id"], fields["nearest_sim"] = nearest[row["row_id"]]
        table.append(necessity_row(row, instructions[i], **fields))
    return table, nearest


def generate_own_answers(
    model_path: str,
    instructions: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
    max_prompt_tokens: int,
) -> tuple[list[str], int, float]:
    """Greedy answers of the seed model, batched (transformers generate, bounded new tokens).

    Over-long prompts are cut on the left so the generation prompt survives; returns the answers,
    how many prompts were cut, and the generation seconds.
    """
    from deita_assets.core.evaluation import generate_answers
    from deita_assets.core.models import load_causal_lm

    if not instructions:
        return [], 0, 0.0
    model, tokenizer = load_causal_lm(model_path)
    tokenizer.truncation_side = "left"
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": t}], tokenize=False, add_generation_prompt=True
        )
        for t in instructions
    ]
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    started = time.perf_counter()
    answers = generate_answers(
        model,
        tokenizer,
        [[text] for text in instructions],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        max_prompt_tokens=max_prompt_tokens,
    )
    seconds = time.perf_counter() - started
    return [a[0] if a else "" for a in answers], sum(n > max_prompt_tokens for n in lengths), seconds
