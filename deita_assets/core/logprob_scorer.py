"""The DEITA templates scored behind an OpenAI-compatible server from first-token `top_logprobs`.

Digits missing from the top-k make the score an interval; the policy says whether that is a failure
or a bounded score, and the interval is stated either way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deita_assets.core.llm_types import ChatRequest
from deita_assets.core.score_templates import (
    DIGITS,
    SCORE_VALUES,
    TEMPLATE_VERSION,
    ScoreBatch,
    ScoreTemplate,
    template_fingerprint,
)


@dataclass(frozen=True)
class LogprobScore:
    """Score from a server's top-k logprobs; `low`/`high` bound it when digits were missing."""

    score: float | None
    low: float | None
    high: float | None
    status: str  # ok | bounded | failed
    reason: str | None


def score_from_top_logprobs(top: Mapping[str, float], missing_policy: str = "fail") -> LogprobScore:
    """Expectation over the digits in a first-token top-k list {token: logprob}.

    Tokens are matched after stripping whitespace (" 3" and "3" both count for 3, their
    probabilities added). A digit absent from the top-k has probability at most that of the
    k-th token, so with digits missing the true score lies in an interval, found exactly at the
    corners of the box [0, p_min] for each missing digit. Policy "fail" records a failure with that
    interval; "bounds" keeps the present-digit expectation and states the interval beside it.
    """
    if missing_policy not in ("fail", "bounds"):
        raise ValueError(f"unknown missing-digit policy {missing_policy!r} (fail | bounds)")
    if not top:
        return LogprobScore(None, None, None, "failed", "server returned no top_logprobs")
    mass = dict.fromkeys(DIGITS, 0.0)
    for token, logprob in top.items():
        key = token.strip()
        if key in mass and math.isfinite(logprob):
            mass[key] += math.exp(logprob)
    missing = [d for d in DIGITS if mass[d] == 0.0]
    if len(missing) == len(DIGITS):
        return LogprobScore(None, None, None, "failed", "no digit 1-6 among the top_logprobs")
    present = np.array([mass[d] for d in DIGITS])
    score = float(present @ SCORE_VALUES / present.sum())
    if not missing:
        return LogprobScore(score, score, score, "ok", None)
    ceiling = math.exp(min(top.values()))
    corners = []
    for bits in range(2 ** len(missing)):
        weights = present.copy()
        for j, digit in enumerate(missing):
            weights[int(digit) - 1] = ceiling if bits >> j & 1 else 0.0
        corners.append(float(weights @ SCORE_VALUES / weights.sum()))
    low, high = min(corners), max(corners)
    reason = f"digits {','.join(missing)} missing from top-{len(top)}; score in [{low:.3f}, {high:.3f}]"
    if missing_policy == "fail":
        return LogprobScore(None, low, high, "failed", reason)
    return LogprobScore(score, low, high, "bounded", reason)


class LogprobScorer:
    """The same template behind any OpenAI-compatible server that returns `top_logprobs`.

    The prompt is sent as one user message (chat protocol); the first generated token's top-k
    alternatives give the digit probabilities. `chat_many` is the LLM layer's batched, cached call.
    """

    def __init__(
        self,
        chat_many: Callable[[Sequence[Any]], Sequence[Any]],
        template: ScoreTemplate,
        top_logprobs: int = 20,
        missing_policy: str = "fail",
    ) -> None:
        self.chat_many, self.template = chat_many, template
        self.top_logprobs, self.missing_policy = top_logprobs, missing_policy

    def request(self, values: Sequence[str]) -> ChatRequest:
        return ChatRequest(
            messages=({"role": "user", "content": self.template.render(values)},),
            template_version=f"{TEMPLATE_VERSION}:{template_fingerprint(self.template)}",
            temperature=0.0,
            max_tokens=1,
            top_logprobs=self.top_logprobs,
        )

    def score(self, rows: Sequence[Sequence[str]]) -> ScoreBatch:
        start = time.perf_counter()
        results = self.chat_many([self.request(row) for row in rows]) if rows else []
        scores = np.full(len(rows), np.nan)
        reasons: list[str | None] = []
        statuses: dict[str, int] = {}
        for i, result in enumerate(results):
            if not result.ok:
                outcome = LogprobScore(
                    None, None, None, "failed", f"{result.error_kind}: {result.error_detail}"
                )
            elif not result.top_logprobs:
                outcome = LogprobScore(None, None, None, "failed", "server returned no logprobs")
            else:
                top: dict[str, float] = {}
                for token, logprob in result.top_logprobs[0]["top"]:
                    top[token] = max(logprob, top.get(token, -math.inf))
                outcome = score_from_top_logprobs(top, self.missing_policy)
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
            if outcome.score is not None:
                scores[i] = outcome.score
            reasons.append(None if outcome.status != "failed" else outcome.reason)
        extra = {f"logprob_{k}": v for k, v in statuses.items()}
        return ScoreBatch(scores, reasons, [False] * len(rows), time.perf_counter() - start, extra)
