"""Prices, per-run spend limits and thread-safe usage accounting for LLM calls.

Reservations are taken before each HTTP attempt so concurrent requests cannot overrun a limit.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from deita_assets.core.llm_types import ChatRequest, ChatResult


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens; zero for local backends."""

    prompt_per_million: float = 0.0
    completion_per_million: float = 0.0

    def scaled(self, factor: float) -> Prices:
        """These prices times `factor` (batch mode: providers bill batch tokens at a discount)."""
        return Prices(self.prompt_per_million * factor, self.completion_per_million * factor)

    def dollars(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.prompt_per_million + completion_tokens * self.completion_per_million
        ) / 1e6


@dataclass(frozen=True)
class SpendLimit:
    """Per-run spend limits (None: unlimited); requests beyond them are not sent (budget_exceeded)."""

    max_requests: int | None = None
    max_tokens: int | None = None
    max_dollars: float | None = None


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """A cheap, deliberately high estimate (3 chars per token + chat-template overhead per message),
    reserved while a request is in flight so concurrent requests cannot overrun the spend limit."""
    return sum(len(m["content"]) // 3 + 8 for m in request.messages)


@dataclass
class Usage:
    """Per-session accounting; thread-safe. Reservations make the spend limit hold under concurrency."""

    prices: Prices = field(default_factory=Prices)
    spend_limit: SpendLimit = field(default_factory=SpendLimit)
    requests: int = 0
    http_requests: int = 0
    retries: int = 0
    cache_hits: int = 0
    completed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: Counter = field(default_factory=Counter)
    http_outcomes: Counter = field(default_factory=Counter)  # per HTTP attempt: "ok", "HTTP 503", timeout…
    budget_stopped: bool = False
    _reserved_tokens: int = 0
    _reserved_dollars: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def dollars(self) -> float:
        return self.prices.dollars(self.prompt_tokens, self.completion_tokens)

    def try_reserve(self, request: ChatRequest) -> tuple[int, float] | None:
        """Reserve spend for one HTTP attempt; None (and budget_stopped) if it would exceed a limit."""
        tokens = estimate_prompt_tokens(request) + request.max_tokens
        dollars = self.prices.dollars(estimate_prompt_tokens(request), request.max_tokens)
        b = self.spend_limit
        with self._lock:
            used_tokens = self.prompt_tokens + self.completion_tokens + self._reserved_tokens
            over = (
                (b.max_requests is not None and self.http_requests + 1 > b.max_requests)
                or (b.max_tokens is not None and used_tokens + tokens > b.max_tokens)
                or (
                    b.max_dollars is not None
                    and self.dollars + self._reserved_dollars + dollars > b.max_dollars
                )
            )
            if over:
                self.budget_stopped = True
                return None
            self.http_requests += 1
            self._reserved_tokens += tokens
            self._reserved_dollars += dollars
            return tokens, dollars

    def release(
        self, reservation: tuple[int, float], prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> None:
        with self._lock:
            self._reserved_tokens -= reservation[0]
            self._reserved_dollars -= reservation[1]
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def record(self, result: ChatResult) -> None:
        with self._lock:
            self.requests += 1
            if result.cached:
                self.cache_hits += 1
            elif result.ok:
                self.completed += 1
            else:
                self.failures[result.error_kind] += 1

    def add_outcome(self, outcome: str) -> None:
        with self._lock:
            self.http_outcomes[outcome] += 1

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "cache_hits": self.cache_hits,
                "http_requests": self.http_requests,
                "retries": self.retries,
                "completed": self.completed,
                "failed": sum(self.failures.values()),
                "failures_by_kind": dict(sorted(self.failures.items())),
                "http_outcomes": dict(sorted(self.http_outcomes.items())),
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "estimated_usd": round(self.dollars, 6),
                "budget_stopped": self.budget_stopped,
                "budget": asdict(self.spend_limit),
            }
