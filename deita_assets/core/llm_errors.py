"""Failure kinds of an LLM (or embedding) call, how an exception maps to one, and secret redaction.

Retryable kinds are retried with backoff before a failure is recorded; details that may be stored
or shown pass through `redact` first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

import openai

# Failure kinds (ChatResult.error_kind); retryable ones are retried with backoff before being recorded.
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
CONNECTION = "connection"
MALFORMED = "malformed_response"
CLIENT_ERROR = "client_error"
BUDGET = "budget_exceeded"
RETRYABLE_KINDS = frozenset({RATE_LIMITED, SERVER_ERROR, TIMEOUT, CONNECTION, MALFORMED})


def redact(text: str, secret: str | None) -> str:
    """Remove the secret (and long fragments of it) from text that may be stored or shown."""
    if not secret or secret == "unused":
        return text
    text = text.replace(secret, "***")
    if len(secret) >= 16:  # servers echo partially masked keys, e.g. "sk-abc...wxyz"
        for fragment in (secret[:8], secret[-8:]):
            text = text.replace(fragment, "***")
    return text


def _retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def attempt_outcome(error: BaseException) -> str:
    """What one failed HTTP attempt got back, for the per-attempt tally ("HTTP 503", "timeout", …)."""
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    return classify_error(error)[0]


def classify_error(error: BaseException) -> tuple[str, float | None]:
    """(failure kind, Retry-After seconds) for an exception raised by the openai client."""
    if isinstance(error, openai.APITimeoutError | asyncio.TimeoutError):
        return TIMEOUT, None
    if isinstance(error, openai.APIConnectionError):
        return CONNECTION, None
    if isinstance(error, openai.APIStatusError):
        headers = error.response.headers if error.response is not None else None
        if error.status_code == 429:
            return RATE_LIMITED, _retry_after_seconds(headers)
        if error.status_code >= 500 or error.status_code == 408:
            return SERVER_ERROR, _retry_after_seconds(headers)
        return CLIENT_ERROR, None
    if isinstance(error, openai.APIResponseValidationError | ValueError | KeyError | TypeError):
        return MALFORMED, None
    return CLIENT_ERROR, None
