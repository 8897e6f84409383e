"""Retry with exponential backoff and full jitter, bounded by attempts and by a deadline."""

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def backoff_delays(base: float, cap: float, rng: random.Random | None = None):
    """Yield full-jitter delays: uniform(0, min(cap, base * 2**n)), so parallel waiters spread out."""
    rng = rng or random.Random()
    attempt = 0
    while True:
        yield rng.uniform(0, min(cap, base * 2**attempt))
        attempt += 1


def call_with_retry(
    fn: Callable[[], T],
    *,
    retry_if: Callable[[BaseException], bool],
    max_seconds: float,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
) -> T:
    """Call `fn` until it succeeds, a non-retryable error occurs, or `max_seconds` have passed."""
    deadline = time.monotonic() + max_seconds
    delays = backoff_delays(base_delay, max_delay)
    while True:
        try:
            return fn()
        except Exception as error:
            if not retry_if(error) or time.monotonic() >= deadline:
                raise
            time.sleep(min(next(delays), max(0.0, deadline - time.monotonic())))
