"""What a DEITA score is (§1.4): the fixed templates, the digits "1".."6" and their expectation.

A scorer reads a template that ends in a marker ("Complexity:" / "Quality:") and predicts the next
token; the score is Σ k·p_k over the softmax of the logits at the six digits only — a continuous
value in [1, 6]. Shared by the local LM scorer, the OpenAI-logprob scorer and scorer training, so
a template change re-versions every score (`template_fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deita_assets.core.reward import RewardBatch

DIGITS = ("1", "2", "3", "4", "5", "6")
SCORE_VALUES = np.arange(1, len(DIGITS) + 1, dtype=np.float64)
TEMPLATE_VERSION = "deita-assets-scorer-v1"


@dataclass(frozen=True)
class ScoreTemplate:
    """Literal text around the fields: literals[0] field[0] literals[1] ... field[n-1] literals[n].

    The last literal ends with the score marker; the separator before the digit (" " or "") is
    chosen per tokenizer by `resolve_digit_ids`.
    """

    dimension: str
    fields: tuple[str, ...]
    literals: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.literals) != len(self.fields) + 1:
            raise ValueError("a template needs exactly one more literal than fields")

    def render(self, values: Sequence[str]) -> str:
        """The prompt as plain text (for OpenAI-compatible servers and for reading)."""
        self._check(values)
        parts = [self.literals[0]]
        for value, literal in zip(values, self.literals[1:], strict=True):
            parts += [value, literal]
        return "".join(parts)

    def _check(self, values: Sequence[str]) -> None:
        if len(values) != len(self.fields):
            raise ValueError(f"{self.dimension} template takes {self.fields}, got {len(values)} values")


COMPLEXITY_TEMPLATE = ScoreTemplate(
    dimension="complexity",
    fields=("query",),
    literals=(
        "Judge how demanding the request below is for an assistant: how many constraints it sets, how "
        "much knowledge and how many reasoning steps it needs. Answer with one digit from 1 (trivial) "
        "to 6 (extremely demanding).\n\n[Request]\n",
        "\n[End of request]\n\nComplexity:",
    ),
)

QUALITY_TEMPLATE = ScoreTemplate(
    dimension="quality",
    fields=("question", "response"),
    literals=(
        "Judge the answer below: is it helpful, relevant, accurate, deep, creative and detailed enough "
        "for the question? Answer with one digit from 1 (poor) to 6 (cannot be improved).\n\n[Question]\n",
        "\n[End of question]\n\n[Answer]\n",
        "\n[End of answer]\n\nQuality:",
    ),
)

TEMPLATES = {t.dimension: t for t in (COMPLEXITY_TEMPLATE, QUALITY_TEMPLATE)}


def template_fingerprint(template: ScoreTemplate) -> str:
    """Changes whenever the template text changes, so scores are recomputed with it."""
    payload = json.dumps([TEMPLATE_VERSION, template.dimension, template.fields, template.literals])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def digit_probabilities(digit_logits: np.ndarray) -> np.ndarray:
    """Softmax over the six digit logits only (rows), computed stably in float64."""
    logits = np.asarray(digit_logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def expected_score(digit_logits: np.ndarray) -> np.ndarray:
    """Σ k·p_k for k = 1..6: the continuous DEITA score."""
    return digit_probabilities(digit_logits) @ SCORE_VALUES


@dataclass
class ScoreBatch(RewardBatch):
    """Scores for a list of rows (NaN where a row failed, with the reason beside it), plus counters."""

    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return len(self.reasons) / self.seconds if self.seconds > 0 else float("nan")


def score_to_digit(score: float) -> int:
    """LLM score (1–6, possibly fractional) -> the target digit, rounded half up."""
    return int(min(6, max(1, math.floor(score + 0.5))))
