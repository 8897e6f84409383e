"""A bounded-concurrency OpenAI-protocol chat client with retries that never loses a paid-for result.

An asyncio loop in a background thread sends the requests; results are checked against the spend
limit, parsed from the raw body, and written through to the cache in small batches.
"""

from __future__ import annotations

import asyncio
import json
import queue
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

import openai

from deita_assets.core.llm_costs import Usage
from deita_assets.core.llm_errors import (
    BUDGET,
    CLIENT_ERROR,
    RETRYABLE_KINDS,
    TIMEOUT,
    attempt_outcome,
    classify_error,
    redact,
)
from deita_assets.core.llm_types import ChatRequest, ChatResult, ResultCache, accepted_hits, request_key
from deita_assets.core.retry import backoff_delays


@dataclass(frozen=True)
class ClientSettings:
    """How to reach the endpoint. `api_key` is only handed to the openai client, never stored/logged."""

    base_url: str
    model: str
    backend: str
    api_key: str = field(default="unused", repr=False)
    timeout: float = 120.0  # total seconds per HTTP attempt (headers and whole body), not per read
    run_deadline: float | None = None  # seconds from client start; later attempts are not sent
    max_concurrency: int = 8
    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0
    structured_output: bool = True
    max_tokens_param: str = "max_tokens"
    # Cache writes: every `flush_seconds` or `flush_every` results, whichever comes first. Each write
    # is one short DuckDB connection (~70 ms with its checkpoint), so not one per result.
    flush_every: int = 256
    flush_seconds: float = 1.0


def parse_completion(body: str) -> tuple[str | None, str | None, int, int, list[dict[str, Any]] | None]:
    """(text, finish_reason, prompt_tokens, completion_tokens, logprobs) from a response body.

    Raises ValueError/KeyError/TypeError on anything that is not a chat completion (counted as
    malformed and retried): we parse the raw body ourselves so garbage never passes as a reply.
    """
    data = json.loads(body)
    choice = data["choices"][0]
    message = choice["message"]
    text = message.get("content")
    if text is not None and not isinstance(text, str):
        raise TypeError("message.content is not a string")
    usage = data.get("usage") or {}
    logprobs = None
    if choice.get("logprobs") and choice["logprobs"].get("content") is not None:
        logprobs = [
            {
                "token": item["token"],
                "logprob": float(item["logprob"]),
                "top": [[alt["token"], float(alt["logprob"])] for alt in item.get("top_logprobs") or []],
            }
            for item in choice["logprobs"]["content"]
        ]
    return (
        text,
        choice.get("finish_reason"),
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        logprobs,
    )


class ChatClient:
    """Bounded-concurrency chat completions with retries, budget and write-through caching.

    An asyncio loop runs in a background thread (AsyncOpenAI, openai's own retries disabled so every
    attempt is ours and counted); `chat_many` is synchronous, returns results in request order, and
    flushes finished results to the cache in small batches while the rest are still in flight.
    """

    def __init__(self, settings: ClientSettings, cache: ResultCache, usage: Usage) -> None:
        self.settings = settings
        self.cache = cache
        self.usage = usage
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="llm-client", daemon=True)
        self._thread.start()
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key,
            timeout=settings.timeout,
            max_retries=0,
        )
        self._semaphore = self._run(self._make_semaphore())
        self._rng = random.Random()
        self._started = time.monotonic()

    async def _make_semaphore(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(self.settings.max_concurrency)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self._client.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def key(self, request: ChatRequest) -> str:
        return request_key(request, self.settings.backend, self.settings.model)

    def chat_many(
        self, requests: Sequence[ChatRequest], accept: Callable[[ChatResult], bool] | None = None
    ) -> list[ChatResult]:
        """Answer every request (cache first), in order; failures come back as results, not raised.

        `accept` is the stage's verdict on a reply: only accepted replies are cached, and a cached
        reply it rejects (written before the verdict existed) is asked again, so a rerun after a bad
        spell of the server heals instead of replaying the bad reply.
        """
        keys = [self.key(r) for r in requests]
        cached = accepted_hits(self.cache, keys, accept)
        accept = accept or (lambda _result: True)
        results: list[ChatResult | None] = [None] * len(requests)
        first_index: dict[str, int] = {}
        duplicates: dict[str, list[int]] = defaultdict(list)
        for index, key in enumerate(keys):
            if key in cached:
                results[index] = replace(cached[key], cached=True)
                self.usage.record(results[index])
            elif key in first_index:
                duplicates[key].append(index)
            else:
                first_index[key] = index
        finished: queue.SimpleQueue[tuple[int, ChatResult]] = queue.SimpleQueue()
        futures = [
            asyncio.run_coroutine_threadsafe(self._complete_into(requests[i], key, i, finished), self._loop)
            for key, i in first_index.items()
        ]
        for index, result in self._collect(finished, len(futures), futures, requests, accept):
            results[index] = result
            for dup in duplicates.get(result.request_key, []):
                results[dup] = replace(result, cached=result.ok)
                self.usage.record(results[dup])
        return [r for r in results if r is not None]

    async def _complete_into(
        self, request: ChatRequest, key: str, index: int, finished: queue.SimpleQueue
    ) -> None:
        try:
            result = await self._complete(request, key)
        except BaseException as error:  # never leave the collector waiting
            result = self._failure(key, CLIENT_ERROR, f"{type(error).__name__}: {error}")
            finished.put((index, result))
            raise
        finished.put((index, result))

    def _collect(
        self,
        finished: queue.SimpleQueue,
        expected: int,
        futures: Sequence[Future],
        requests: Sequence[ChatRequest],
        accept: Callable[[ChatResult], bool],
    ) -> Iterator[tuple[int, ChatResult]]:
        """Yield results as they finish; write accepted ones to the cache every few results/seconds,
        so a crash loses at most one small batch of paid-for results."""
        unflushed: list[tuple[ChatRequest, ChatResult]] = []
        last_flush = time.monotonic()
        try:
            for _ in range(expected):
                while True:
                    try:
                        index, result = finished.get(timeout=self.settings.flush_seconds)
                        break
                    except queue.Empty:
                        if unflushed:
                            self.cache.put_many(unflushed)
                            unflushed, last_flush = [], time.monotonic()
                self.usage.record(result)
                if result.ok and accept(result):
                    unflushed.append((requests[index], result))
                yield index, result
                if unflushed and (
                    len(unflushed) >= self.settings.flush_every
                    or time.monotonic() - last_flush >= self.settings.flush_seconds
                ):
                    self.cache.put_many(unflushed)
                    unflushed, last_flush = [], time.monotonic()
        finally:
            for future in futures:
                future.cancel()
            if unflushed:
                self.cache.put_many(unflushed)

    def _failure(self, key: str, kind: str, detail: str) -> ChatResult:
        s = self.settings
        return ChatResult(
            key, None, None, 0, 0, False, kind, redact(detail, s.api_key)[:500], s.backend, s.model
        )

    def _not_sent(self, key: str, kind: str, why: str, attempt: int, last: tuple[str, str] | None):
        """A request stopped before its next attempt: says what earlier attempts got back, if any."""
        if last is None:
            return self._failure(key, kind, f"{why}; request not sent")
        return self._failure(key, last[0], f"{last[1]} (after {attempt} attempts; retry not sent: {why})")

    def _attempt_limit(self) -> float:
        """Seconds this attempt may take: the per-attempt timeout, cut by the run deadline."""
        s = self.settings
        if s.run_deadline is None:
            return s.timeout
        return min(s.timeout, s.run_deadline - (time.monotonic() - self._started))

    async def _complete(self, request: ChatRequest, key: str) -> ChatResult:
        s = self.settings
        delays = backoff_delays(s.backoff_base, s.backoff_cap, self._rng)
        async with self._semaphore:
            attempt = 0
            last: tuple[str, str] | None = None  # (kind, detail) of the last failed attempt
            while True:
                limit = self._attempt_limit()
                if limit <= 0:
                    why = f"run deadline of {s.run_deadline:g} s reached"
                    return self._not_sent(key, TIMEOUT, why, attempt, last)
                reservation = self.usage.try_reserve(request)
                if reservation is None:
                    return self._not_sent(key, BUDGET, "per-run budget reached", attempt, last)
                try:
                    try:
                        body = await asyncio.wait_for(self._send(request), limit)
                    except TimeoutError:
                        raise TimeoutError(
                            f"no complete reply within {limit:.3g} s (total deadline)"
                        ) from None
                    text, finish, prompt_tokens, completion_tokens, logprobs = parse_completion(body)
                except Exception as error:
                    self.usage.release(reservation)
                    self.usage.add_outcome(attempt_outcome(error))
                    kind, retry_after = classify_error(error)
                    last = (kind, f"{type(error).__name__}: {error}")
                    if kind not in RETRYABLE_KINDS or attempt >= s.max_retries:
                        return self._failure(key, kind, f"{last[1]} (after {attempt + 1} attempts)")
                    attempt += 1
                    self.usage.add_retry()
                    delay = next(delays)
                    if retry_after is not None:
                        delay = max(delay, min(retry_after, s.max_retry_after))
                    await asyncio.sleep(delay)
                    continue
                self.usage.release(reservation, prompt_tokens, completion_tokens)
                self.usage.add_outcome("ok")
                return ChatResult(
                    key,
                    text,
                    finish,
                    prompt_tokens,
                    completion_tokens,
                    False,
                    None,
                    None,
                    s.backend,
                    s.model,
                    logprobs,
                )

    async def _send(self, request: ChatRequest) -> str:
        # The client's documented generic POST: same auth, base URL, timeout and error types as
        # chat.completions.create, minus its typed-params transform (~1 ms of CPU per request, which
        # at high concurrency is what limits throughput); we parse the raw body ourselves anyway.
        body = completion_body(request, self.settings)
        return await self._client.post("/chat/completions", cast_to=str, body=body)


def completion_body(request: ChatRequest, s: ClientSettings) -> dict[str, Any]:
    """The chat-completions request body for `request`: sent online, and written as a Batch API line."""
    kwargs: dict[str, Any] = {
        "model": s.model,
        "messages": [dict(m) for m in request.messages],
        "temperature": request.temperature,
        s.max_tokens_param: request.max_tokens,
    }
    if request.seed is not None:
        kwargs["seed"] = request.seed
    if request.json_schema is not None and s.structured_output:
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": request.json_schema, "strict": True},
        }
    if request.top_logprobs:
        kwargs["logprobs"] = True
        kwargs["top_logprobs"] = request.top_logprobs
    return kwargs
