"""LLM-as-judge: MT-Bench-style 1–10 single-answer grading and pairwise comparison, our own prompts.

Replies are parsed strictly first ("Rating: [[7]]", "Verdict: [[A]]") and then leniently; anything
still unparseable is a recorded failure (status + raw reply), never a made-up score. Pairwise
comparisons are asked in both orders so a judge's preference for the first or second position
cancels out; order-dependent verdicts are counted as inconsistent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

JUDGE_TEMPLATE_VERSION = "judge-v1"

SINGLE_SYSTEM = (
    "You grade answers written by an AI assistant. Judge how well the answer serves the user: "
    "correctness first, then helpfulness, relevance, depth and clarity. Length alone is not merit. "
    "Explain your judgement in at most three sentences, then give a whole-number grade from 1 (useless) "
    "to 10 (excellent) on the last line, written exactly as: Rating: [[N]]"
)
SINGLE_REFERENCE_NOTE = (
    "A reference answer is provided. Treat it as correct and penalize answers that contradict it."
)
PAIRWISE_SYSTEM = (
    "You compare two answers, A and B, written by AI assistants to the same user question. Decide which "
    "answer serves the user better: correctness first, then helpfulness, relevance, depth and clarity. "
    "The order in which the answers appear and their length must not influence you. Explain briefly, "
    "then end with one line written exactly as: Verdict: [[A]] or Verdict: [[B]] or Verdict: [[TIE]]"
)


def _conversation_block(questions: Sequence[str], answers: Sequence[str], label: str) -> str:
    lines = []
    for k, (question, answer) in enumerate(zip(questions, answers, strict=False), start=1):
        lines.append(f"### User (turn {k})\n{question}\n### {label} (turn {k})\n{answer}")
    return "\n\n".join(lines)


def single_grade_messages(
    questions: Sequence[str], answers: Sequence[str], references: Sequence[str] | None = None
) -> list[dict[str, str]]:
    """Messages asking the judge to grade one assistant's answers (all turns shown, last one graded)."""
    system = SINGLE_SYSTEM + (" " + SINGLE_REFERENCE_NOTE if references else "")
    body = _conversation_block(questions, answers, "Assistant")
    if references:
        body = (
            f"## Reference answers\n{_conversation_block(questions, references, 'Reference')}\n\n"
            f"## Answer to grade\n{body}"
        )
    body += "\n\nGrade the assistant's final answer."
    return [{"role": "system", "content": system}, {"role": "user", "content": body}]


def pairwise_messages(
    questions: Sequence[str], answers_a: Sequence[str], answers_b: Sequence[str]
) -> list[dict[str, str]]:
    body = (
        f"## Assistant A\n{_conversation_block(questions, answers_a, 'Assistant A')}\n\n"
        f"## Assistant B\n{_conversation_block(questions, answers_b, 'Assistant B')}\n\n"
        "Which assistant answered the final question better?"
    )
    return [{"role": "system", "content": PAIRWISE_SYSTEM}, {"role": "user", "content": body}]


_RATING_STRICT = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
_RATING_LENIENT = (
    re.compile(r"rating\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE),
    re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", re.IGNORECASE),
)
_VERDICT_STRICT = re.compile(r"\[\[\s*(A|B|TIE|C)\s*\]\]", re.IGNORECASE)
_VERDICT_LENIENT = re.compile(r"verdict\s*[:=]?\s*\**\s*\[?\s*(A|B|TIE)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedGrade:
    score: float | None
    status: str  # ok | lenient | out_of_range | unparseable | empty


def parse_single_grade(reply: str | None) -> ParsedGrade:
    """The last [[N]] in the reply (else "Rating: N" / "N/10"); only grades in 1..10 count."""
    if not reply or not reply.strip():
        return ParsedGrade(None, "empty")
    found = _RATING_STRICT.findall(reply)
    status = "ok"
    if not found:
        status = "lenient"
        for pattern in _RATING_LENIENT:
            found = pattern.findall(reply)
            if found:
                break
    if not found:
        return ParsedGrade(None, "unparseable")
    score = float(found[-1])
    if not 1 <= score <= 10:
        return ParsedGrade(None, "out_of_range")
    return ParsedGrade(score, status)


@dataclass(frozen=True)
class ParsedVerdict:
    winner: str | None  # "A" | "B" | "tie" | None
    status: str


def parse_pairwise(reply: str | None) -> ParsedVerdict:
    """The last [[A]]/[[B]]/[[TIE]] (FastChat's [[C]] accepted as tie), else "Verdict: X"."""
    if not reply or not reply.strip():
        return ParsedVerdict(None, "empty")
    found = _VERDICT_STRICT.findall(reply)
    status = "ok"
    if not found:
        found, status = _VERDICT_LENIENT.findall(reply), "lenient"
    if not found:
        return ParsedVerdict(None, "unparseable")
    label = found[-1].upper()
    return ParsedVerdict("tie" if label in ("TIE", "C") else label, status)


@dataclass(frozen=True)
class PairwiseOutcome:
    """The candidate's result on one question, from the two orders (candidate as A, then as B)."""

    points: float | None  # 1 win, 0.5 tie, 0 loss; None when either order failed to parse
    consistent: bool | None


def combine_orders(candidate_first: ParsedVerdict, candidate_second: ParsedVerdict) -> PairwiseOutcome:
    """Average the candidate's points over both orders; inconsistent = the verdict followed position."""
    if candidate_first.winner is None or candidate_second.winner is None:
        return PairwiseOutcome(None, None)
    as_a = {"A": 1.0, "tie": 0.5, "B": 0.0}[candidate_first.winner]
    as_b = {"B": 1.0, "tie": 0.5, "A": 0.0}[candidate_second.winner]
    return PairwiseOutcome((as_a + as_b) / 2, as_a == as_b)


@dataclass(frozen=True)
class WinRate:
    win_rate: float | None
    n_scored: int
    n_failed: int
    n_inconsistent: int


def win_rate(outcomes: Sequence[PairwiseOutcome]) -> WinRate:
    """Mean points over questions where both orders parsed; failures and inconsistencies counted."""
    scored = [o for o in outcomes if o.points is not None]
    return WinRate(
        win_rate=sum(o.points for o in scored) / len(scored) if scored else None,  # type: ignore[misc]
        n_scored=len(scored),
        n_failed=len(outcomes) - len(scored),
        n_inconsistent=sum(1 for o in scored if not o.consistent),
    )


SINGLE = "single"
CANDIDATE_FIRST = "pairwise_candidate_first"
CANDIDATE_SECOND = "pairwise_candidate_second"


@dataclass(frozen=True)
class JudgeTask:
    """One judge request: which item, which kind of judgement, and the messages to send."""

    item_id: str
    kind: str
    messages: list[dict[str, str]]


def single_tasks(
    items: Sequence[tuple[str, Sequence[str], Sequence[str] | None]], answers: dict[str, Sequence[str]]
) -> list[JudgeTask]:
    """(item_id, questions, references) + the model's answers -> one grading task per item."""
    return [
        JudgeTask(item_id, SINGLE, single_grade_messages(questions, answers[item_id], references))
        for item_id, questions, references in items
        if item_id in answers
    ]


def pairwise_tasks(
    items: Sequence[tuple[str, Sequence[str], Sequence[str] | None]],
    candidate: dict[str, Sequence[str]],
    baseline: dict[str, Sequence[str]],
) -> list[JudgeTask]:
    """Two tasks per item: the candidate shown as A, then as B (position bias cancels)."""
    tasks = []
    for item_id, questions, _references in items:
        if item_id not in candidate or item_id not in baseline:
            continue
        tasks.append(
            JudgeTask(
                item_id, CANDIDATE_FIRST, pairwise_messages(questions, candidate[item_id], baseline[item_id])
            )
        )
        tasks.append(
            JudgeTask(
                item_id, CANDIDATE_SECOND, pairwise_messages(questions, baseline[item_id], candidate[item_id])
            )
        )
    return tasks


def pairwise_outcomes(verdicts: dict[tuple[str, str], ParsedVerdict]) -> list[PairwiseOutcome]:
    """Pair each item's two orders; an item missing either order counts as a failure."""
    items = sorted({item_id for item_id, _kind in verdicts})
    missing = ParsedVerdict(None, "missing")
    return [
        combine_orders(
            verdicts.get((i, CANDIDATE_FIRST), missing), verdicts.get((i, CANDIDATE_SECOND), missing)
        )
        for i in items
    ]
