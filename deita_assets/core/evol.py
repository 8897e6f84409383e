"""Evol-Complexity / Evol-Quality logic without I/O: seed sampling, operation schedule, reply cleanup,
degenerate-evolution flags and the deterministic shuffle used by rank-and-score."""

from __future__ import annotations

import hashlib
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from deita_assets.core.llm_types import ChatResult
from deita_assets.core.parsing import RankParse
from deita_assets.core.prompts import OPS, SCAFFOLD_MARKERS
from deita_assets.core.refusal import refusal_rule

ROUNDS = 5  # M in the paper: 6 variants per seed including the original

# Variant status values (evolved_variants.status).
OK = "ok"
DEGENERATE = "degenerate"  # usable text, but flagged (see flags)
FAILED = "failed"  # no usable text: the LLM call failed or the reply was empty
SKIPPED = "skipped"  # an earlier round failed, so this one could not be evolved

# Degeneracy flags.
EMPTY = "empty"
UNCHANGED = "unchanged"
ECHOED_SCAFFOLD = "echoed_scaffold"
SHORTER = "shorter_than_previous"
TRUNCATED = "truncated"
REFUSAL = "refusal"  # a refusal or non-answer (core.refusal): never evolved further, ranked or trained on


def stable_hash(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


def stratified_sample(candidates: Sequence[tuple[str, str]], size: int, seed: int) -> list[str]:
    """Row ids of a reproducible sample stratified by source (proportional allocation).

    `candidates` are (row_id, source). Within a source rows are ordered by a seeded hash; each row
    then sits at its source quantile (i + 0.5) / n_source, and the first `size` rows by quantile are
    taken — systematic sampling, so every source gets ≈ size · n_source / N rows and small sources
    are not crowded out. Independent of input order.
    """
    by_source: dict[str, list[str]] = defaultdict(list)
    for row_id, source in sorted(set(candidates)):
        by_source[source].append(row_id)
    ranked: list[tuple[float, int, str]] = []
    for source, rows in by_source.items():
        rows.sort(key=lambda r: stable_hash(seed, source, r))
        ranked += [((i + 0.5) / len(rows), stable_hash(seed, "tie", r), r) for i, r in enumerate(rows)]
    ranked.sort()
    return [row_id for _q, _tie, row_id in ranked[:size]]


def pick_op(dimension: str, seed_id: int, round_: int, salt: int = 0) -> str:
    """The operation for one round: seeded, so reruns ask the same thing (and hit the cache)."""
    ops = sorted(OPS[dimension])
    return ops[stable_hash(salt, dimension, seed_id, round_) % len(ops)]


_LABEL = re.compile(
    r"^\s*(?:\*\*)?(?:(?:new|rewritten|evolved|improved|updated|more complex)\s+)?"
    r"(?:instruction|response|answer|prompt|version)(?:\*\*)?\s*:\s*(?:\*\*)?",
    re.IGNORECASE,
)


_PREAMBLE = re.compile(r"^\s*here(?:'s| is) (?:the|a|an|my) [^:\n]{0,80}:\s*", re.IGNORECASE)
_OPEN_TAG = re.compile(r"^<(?:instruction|response)>\s*")
_CLOSE_TAG = re.compile(r"\s*</(?:instruction|response)>$")


def clean_reply(text: str | None) -> str:
    """Strip whitespace, one leading label ("Rewritten instruction:") or preamble ("Here is the new
    version:"), a leading <instruction>/<response> tag and a trailing closing one, wrapping quotes."""
    if not text:
        return ""
    cleaned = _PREAMBLE.sub("", text.strip(), count=1)
    cleaned = _LABEL.sub("", cleaned, count=1).strip()
    cleaned = _CLOSE_TAG.sub("", _OPEN_TAG.sub("", cleaned, count=1), count=1)
    if len(cleaned) >= 2 and cleaned[0] == cleaned[-1] and cleaned[0] in "\"'`":
        cleaned = cleaned[1:-1].strip()
    return cleaned


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def degeneracy_flags(previous: str, new: str, truncated: bool, original: str | None = None) -> list[str]:
    """Why an evolution is suspect: empty, unchanged, prompt scaffolding echoed, not grown, cut off.

    Scaffolding counts as echoed when it is absent from the seed's original text (`original`, default
    `previous`): once it leaked into a round, every later round that keeps it is flagged too.
    """
    source = (previous if original is None else original).lower()
    if not new.strip():
        return [EMPTY]
    flags = []
    if _normal(new) == _normal(previous):
        flags.append(UNCHANGED)
    if any(m.lower() in new.lower() and m.lower() not in source for m in SCAFFOLD_MARKERS):
        flags.append(ECHOED_SCAFFOLD)
    if len(new.split()) < len(previous.split()):
        flags.append(SHORTER)
    if truncated:
        flags.append(TRUNCATED)
    return flags


def shuffled_order(n: int, dimension: str, seed_id: int, salt: int = 0) -> list[int]:
    """order[p] = the round shown at position p+1; deterministic per (dimension, seed)."""
    order = list(range(n))
    random.Random(stable_hash(salt, "rank-order", dimension, seed_id)).shuffle(order)
    return order


@dataclass(frozen=True)
class Variant:
    """One round of one seed: the text that round produced and how it came about."""

    round: int
    text: str
    op: str | None
    status: str
    flags: tuple[str, ...]
    reason: str | None = None


def original(round0_text: str) -> Variant:
    """Round 0, the seed's own text: usable unless it is itself a refusal."""
    if rule := refusal_rule(round0_text):
        return Variant(0, round0_text, None, DEGENERATE, (REFUSAL,), f"{REFUSAL} (rule {rule})")
    return Variant(0, round0_text, None, OK, ())


def stops_chain(variant: Variant) -> bool:
    """Nothing to evolve from: the round failed, or its text is a refusal."""
    return variant.status == FAILED or REFUSAL in variant.flags


def usable_reply(result: ChatResult) -> bool:
    """The evol stage's cache verdict: a reply with text left after cleanup (an empty one is re-asked)."""
    return bool(clean_reply(result.text))


def judge_evolution(
    round_: int, op: str, previous: str, result: ChatResult, original: str | None = None
) -> Variant:
    """The variant one evolution round produced: failed without usable text, else flagged if suspect."""
    if not result.ok:
        return Variant(round_, "", op, FAILED, (), f"{result.error_kind}: {result.error_detail}")
    text = clean_reply(result.text)
    flags = tuple(degeneracy_flags(previous, text, result.truncated, original))
    if EMPTY in flags:
        return Variant(round_, "", op, FAILED, flags, "the model returned an empty rewrite")
    if rule := refusal_rule(text):
        return Variant(round_, text, op, DEGENERATE, (REFUSAL, *flags), f"{REFUSAL} (rule {rule})")
    return Variant(round_, text, op, DEGENERATE if flags else OK, flags, ", ".join(flags) or None)


def skipped(round_: int, op: str, failed_round: int) -> Variant:
    return Variant(round_, "", op, SKIPPED, (), f"round {failed_round} failed or refused, nothing to evolve")


def evol_max_tokens(previous: str, cap: int) -> int:
    """Room for the previous text (≈3 chars/token) plus the growth asked for, bounded by `cap`."""
    return min(cap, len(previous) // 3 + 96)


def scores_by_round(scores_by_position: dict[int, float], order: Sequence[int]) -> dict[int, float]:
    """Map 1-based shown positions back to rounds through the shuffle."""
    return {order[position - 1]: score for position, score in scores_by_position.items()}


def round_score_table(pairs: Sequence[tuple[int, float]]) -> list[dict[str, object]]:
    """Per round: scored variants, mean score and how many got each integer score 1..6."""
    by_round: dict[int, list[float]] = defaultdict(list)
    for round_, score in pairs:
        by_round[round_].append(score)
    table = []
    for round_ in sorted(by_round):
        scores = by_round[round_]
        row: dict[str, object] = {"round": round_, "n": len(scores), "mean": sum(scores) / len(scores)}
        row |= {f"={k}": sum(round(s) == k for s in scores) for k in range(1, 7)}
        table.append(row)
    return table


def round_score_spearman(pairs: Sequence[tuple[int, float]]) -> float | None:
    """Spearman correlation between evolution round and LLM score (positive = evolution worked)."""
    if len(pairs) < 3 or len({r for r, _ in pairs}) < 2 or len({s for _, s in pairs}) < 2:
        return None
    from scipy.stats import spearmanr

    return float(spearmanr([r for r, _ in pairs], [s for _, s in pairs]).statistic)


# Rank outcome values (ranked_scores.parse_status).
RANK_OK = "ok"
RANK_REPAIRED = "repaired"  # valid after the one repair turn
RANK_PARSE_FAILED = "parse_failed"  # invalid after the repair turn: recorded, never guessed
RANK_LLM_ERROR = "llm_error"  # the request itself failed (after retries) or the budget stopped it
RANK_SKIPPED = "skipped"  # the seed has no complete set of variants


@dataclass(frozen=True)
class RankOutcome:
    status: str
    scores: dict[int, float] | None  # by shown position, only when valid
    reason: str | None
    raw_reply: str | None
    result: ChatResult | None  # the reply the outcome rests on (for backend/model/request key)


def needs_repair(result: ChatResult, parsed: RankParse) -> bool:
    return result.ok and parsed.scores is None


def rank_outcome(
    first: ChatResult, first_parse: RankParse, repair: ChatResult | None, repair_parse: RankParse | None
) -> RankOutcome:
    """Combine the first reply and the optional repair turn into what gets recorded."""
    if not first.ok:
        return RankOutcome(RANK_LLM_ERROR, None, f"{first.error_kind}: {first.error_detail}", None, first)
    if first_parse.scores is not None:
        return RankOutcome(RANK_OK, first_parse.scores, None, first.text, first)
    raw = f"{first.text}\n--- repair reply ---\n{repair.text if repair else None}"
    if repair is None or not repair.ok:
        detail = f"{repair.error_kind}: {repair.error_detail}" if repair else "no repair attempted"
        return RankOutcome(
            RANK_LLM_ERROR, None, f"{first_parse.problem}; repair failed: {detail}", raw, first
        )
    if repair_parse is not None and repair_parse.scores is not None:
        return RankOutcome(RANK_REPAIRED, repair_parse.scores, first_parse.problem, repair.text, repair)
    problem = repair_parse.problem if repair_parse else "unparsed"
    return RankOutcome(
        RANK_PARSE_FAILED, None, f"{first_parse.problem}; after repair: {problem}", raw, repair
    )
