"""Robust parsing of rank-and-score replies: "[k] Score: x" lines, or JSON from structured output.

A reply is accepted only when every item 1..n gets exactly one score in range; otherwise the caller
gets the problem in words (for the repair prompt and the failure record). Nothing is ever guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

SCORE_MIN = 1.0
SCORE_MAX = 6.0

# One score per line, the line starting with the item label (markdown decoration allowed):
# "[3] Score: 4", "**[3]** score = 4.5 (most complex)", "- [3]: 4", "[3] 4/6". A bare number after the
# label counts only when nothing else follows, so an echoed variant ("[1] Write 3 poems") is no score.
_GAP = r"(?:[^\w-]|-(?!\d))*"  # punctuation/markdown between parts; a "-" only if no number follows
_LABEL = r"^[^\w\[]*\[\s*(\d+)\s*\]" + _GAP
_NUM = r"(-?\d+(?:\.\d+)?)"
_WITH_KEYWORD = re.compile(_LABEL + r"score" + _GAP + _NUM, re.IGNORECASE | re.MULTILINE)
_BARE = re.compile(_LABEL + _NUM + r"\s*(?:/\s*\d+)?[^\w]*$", re.MULTILINE)


@dataclass(frozen=True)
class RankParse:
    """Scores by shown item (1-based) when valid, else `problem` says why; `fmt` is json or lines."""

    scores: dict[int, float] | None
    problem: str | None
    fmt: str | None = None


def _json_pairs(text: str) -> list[tuple[int, float]] | None:
    """(item, score) pairs from a JSON reply, or None when the text holds no usable JSON."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    scores = data.get("scores") if isinstance(data, dict) else None
    pairs: list[tuple[int, float]] = []
    try:
        if isinstance(scores, list):
            pairs = [(int(e["item"]), float(e["score"])) for e in scores]
        elif isinstance(scores, dict):
            pairs = [(int(k), float(v)) for k, v in scores.items()]
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return pairs


def _line_pairs(text: str) -> list[tuple[int, float]]:
    found = [(m.start(), m.group(1), m.group(2)) for p in (_WITH_KEYWORD, _BARE) for m in p.finditer(text)]
    return [(int(item), float(score)) for _pos, item, score in sorted(found)]


def parse_rank_reply(text: str | None, n: int) -> RankParse:
    """Parse and validate a reply scoring items 1..n (JSON first, then the line format)."""
    if not text or not text.strip():
        return RankParse(None, "the reply was empty")
    pairs, fmt = _json_pairs(text), "json"
    if not pairs:
        pairs, fmt = _line_pairs(text), "lines"
    if not pairs:
        return RankParse(None, 'no "[k] Score: x" lines found', None)
    scores: dict[int, float] = {}
    for item, score in pairs:
        if not 1 <= item <= n:
            return RankParse(None, f"item [{item}] does not exist (items are [1] to [{n}])", fmt)
        if item in scores and scores[item] != score:
            return RankParse(None, f"item [{item}] got more than one score", fmt)
        if not SCORE_MIN <= score <= SCORE_MAX:
            return RankParse(None, f"item [{item}] got score {score:g}, outside 1 to 6", fmt)
        scores[item] = score
    missing = [k for k in range(1, n + 1) if k not in scores]
    if missing:
        return RankParse(None, "no score for item " + ", ".join(f"[{k}]" for k in missing), fmt)
    return RankParse(scores, None, fmt)
