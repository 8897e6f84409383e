"""Held-out evaluation: reference-answer NLL, answer generation, eval-set loading and leak checks.

NLL of reference answers (teacher-forced through the chat template, assistant tokens only — the same
masking as training) is cheap and deterministic, so it is the metric that works on a CPU. The
LLM-judge half lives in core/judge.py.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deita_assets.core.chat_tokens import IGNORE_INDEX, Turn, encode_conversation, normalize_turns, pad_batch

MT_BENCH = "mt_bench"
POOL_HOLDOUT = "pool_holdout"
MT_BENCH_OVERLAP = "mt_bench_overlap"  # pool rows that repeat an MT-Bench prompt


@dataclass(frozen=True)
class EvalItem:
    """One held-out prompt: user turns, and reference answers where the benchmark has them."""

    item_id: str
    benchmark: str
    category: str
    questions: tuple[str, ...]
    references: tuple[str, ...] | None

    def reference_conversation(self) -> list[Turn]:
        """Questions interleaved with the reference answers (for teacher-forced NLL)."""
        if not self.references:
            raise ValueError(f"{self.item_id} has no reference answers")
        turns: list[Turn] = []
        for question, answer in zip(self.questions, self.references, strict=False):
            turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return turns


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_mt_bench(directory: Path) -> list[EvalItem]:
    """MT-Bench's 80 two-turn questions, with GPT-4 reference answers attached where they exist (30)."""
    references = {
        row["question_id"]: tuple(row["choices"][0]["turns"])
        for row in _jsonl(directory / "reference_answer" / "gpt-4.jsonl")
    }
    return [
        EvalItem(
            item_id=f"{MT_BENCH}:{row['question_id']}",
            benchmark=MT_BENCH,
            category=row["category"],
            questions=tuple(row["turns"]),
            references=references.get(row["question_id"]),
        )
        for row in _jsonl(directory / "question.jsonl")
    ]


def holdout_items(rows: Iterable[tuple[str, Sequence[Any]]]) -> list[EvalItem]:
    """Pool rows held out for evaluation: every user turn a question, every assistant turn a reference."""
    items = []
    for row_id, raw_turns in rows:
        turns = [t for t in normalize_turns(raw_turns) if t["role"] in ("user", "assistant")]
        questions = tuple(t["content"] for t in turns if t["role"] == "user")
        answers = tuple(t["content"] for t in turns if t["role"] == "assistant")
        items.append(EvalItem(row_id, POOL_HOLDOUT, "pool", questions, answers or None))
    return items


_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalize_prompt(text: str) -> str:
    """Canonical prompt text for leak detection: NFKC, casefold, punctuation dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def find_leaks(
    eval_prompts: Iterable[str], training_prompts: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """(row_id, prompt) of training prompts whose normalized text equals any eval prompt's."""
    forbidden = {normalize_prompt(p) for p in eval_prompts}
    forbidden.discard("")
    return [(row_id, prompt) for row_id, prompt in training_prompts if normalize_prompt(prompt) in forbidden]


@dataclass(frozen=True)
class NLLResult:
    """Token-weighted mean NLL over all reference tokens, plus each item's own mean."""

    mean_nll: float
    n_items: int
    n_tokens: int
    n_truncated: int
    per_item: tuple[float, ...]


def reference_nll(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Sequence[Any]],
    max_length: int = 1024,
    batch_size: int = 4,
) -> NLLResult:
    """Mean per-token negative log-likelihood (nats) of the assistant turns given everything before.

    Batched by similar length (sorted) to waste little on padding; items whose reference was cut
    by max_length are scored on what remains and counted as truncated.
    """
    import torch

    encoded = [encode_conversation(tokenizer, turns, max_length) for turns in conversations]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
    sums, counts = [0.0] * len(encoded), [0] * len(encoded)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = [i for i in order[start : start + batch_size] if encoded[i].n_target_tokens]
            if not chunk:
                continue
            batch = pad_batch([encoded[i] for i in chunk], tokenizer.pad_token_id)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            targets = batch["labels"][:, 1:]
            logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            mask = targets != IGNORE_INDEX
            picked = logprobs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            nll = -(picked * mask).sum(dim=1)
            for row, index in enumerate(chunk):
                sums[index], counts[index] = float(nll[row]), int(mask[row].sum())
    total = sum(counts)
    if total == 0:
        raise ValueError("no reference tokens to score")
    return NLLResult(
        mean_nll=sum(sums) / total,
        n_items=sum(1 for c in counts if c),
        n_tokens=total,
        n_truncated=sum(1 for item in encoded if item.truncated),
        per_item=tuple(s / c if c else math.nan for s, c in zip(sums, counts, strict=True)),
    )


def generate_answers(
    model: Any,
    tokenizer: Any,
    questions: Sequence[Sequence[str]],
    max_new_tokens: int = 128,
    batch_size: int = 8,
    max_prompt_tokens: int = 768,
) -> list[list[str]]:
    """Greedy multi-turn answers: turn k is asked with the model's own earlier answers in context."""
    import torch

    answers: list[list[str]] = [[] for _ in questions]
    n_turns = max((len(q) for q in questions), default=0)
    tokenizer.padding_side = "left"
    model.eval()
    for turn in range(n_turns):
        active = [i for i, q in enumerate(questions) if len(q) > turn]
        for start in range(0, len(active), batch_size):
            chunk = active[start : start + batch_size]
            prompts = [
                tokenizer.apply_chat_template(
                    _history(questions[i][: turn + 1], answers[i]), tokenize=False, add_generation_prompt=True
                )
                for i in chunk
            ]
            batch = tokenizer(
                prompts,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=max_prompt_tokens,
                add_special_tokens=False,
            )
            with torch.inference_mode():
                output = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            for i, text in zip(
                chunk, tokenizer.batch_decode(new_tokens, skip_special_tokens=True), strict=True
            ):
                answers[i].append(text.strip())
    return answers


def _history(questions: Sequence[str], answers: Sequence[str]) -> list[Turn]:
    turns: list[Turn] = []
    for k, question in enumerate(questions):
        turns.append({"role": "user", "content": question})
        if k < len(answers):
            turns.append({"role": "assistant", "content": answers[k]})
    return turns


def choose_holdout(candidates: Sequence[tuple[str, str]], size: int, seed: int) -> list[str]:
    """Row ids held out from the pool: a seeded sample of (row_id, source) spread evenly over sources."""
    import random

    by_source: dict[str, list[str]] = {}
    for row_id, source in sorted(candidates):
        by_source.setdefault(source, []).append(row_id)
    rng = random.Random(seed)
    for rows in by_source.values():
        rng.shuffle(rows)
    chosen: list[str] = []
    queues = [by_source[s] for s in sorted(by_source)]
    while len(chosen) < size and any(queues):
        for queue in queues:
            if queue and len(chosen) < size:
                chosen.append(queue.pop())
    return sorted(chosen)


def spread_over_categories(items: Sequence[EvalItem], n: int) -> list[EvalItem]:
    """The first n items taken round-robin over categories, so a small judge set covers all of them."""
    by_category: dict[str, list[EvalItem]] = {}
    for item in items:
        by_category.setdefault(item.category, []).append(item)
    ordered = sorted(
        items, key=lambda it: (by_category[it.category].index(it), sorted(by_category).index(it.category))
    )
    return ordered[:n]
