"""The LLM layer's pure part: requests, content-addressed keys, usage/cost accounting, budgets,
and a bounded-concurrency OpenAI-protocol client with retries that never loses a paid-for result.

Everything speaks the chat-completions protocol through the `openai` package, so OpenAI, vLLM,
llama.cpp's server, Ollama or any compatible endpoint work unchanged. The cache is abstract here
(`ResultCache`); the Dagster resource backs it with the DuckDB table `llm_cache`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import openai

from deita_assets.core.retry import backoff_delays

# Failure kinds (ChatResult.error_kind); retryable ones are retried with backoff before being recorded.
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
CONNECTION = "connection"
MALFORMED = "malformed_response"
CLIENT_ERROR = "client_error"
BUDGET = "budget_exceeded"
RETRYABLE_KINDS = frozenset({RATE_LIMITED, SERVER_ERROR, TIMEOUT, CONNECTION, MALFORMED})


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to make. `template_version` names the prompt template that built it."""

    messages: tuple[Mapping[str, str], ...]
    template_version: str
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = 0
    json_schema: dict | None = None
    top_logprobs: int | None = None

    def __post_init__(self) -> None:
        messages = tuple({"role": str(m["role"]), "content": str(m["content"])} for m in self.messages)
        object.__setattr__(self, "messages", messages)

    def canonical(self, backend: str, model: str) -> dict[str, Any]:
        """Everything that determines the reply; hashed into the cache key and stored beside it."""
        return {
            "backend": backend,
            "model": model,
            "template_version": self.template_version,
            "messages": [dict(m) for m in self.messages],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "json_schema": self.json_schema,
            "top_logprobs": self.top_logprobs,
        }


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def request_key(request: ChatRequest, backend: str, model: str) -> str:
    """Content hash of backend, model, template version, messages and sampling params (seed included)."""
    return hashlib.sha256(canonical_json(request.canonical(backend, model)).encode()).hexdigest()


@dataclass(frozen=True)
class ChatResult:
    """The reply to one request, or why there is none (`error_kind`, `error_detail`); never invented."""

    request_key: str
    text: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    error_kind: str | None
    error_detail: str | None
    backend: str
    model: str
    top_logprobs: list[dict[str, Any]] | None = None

    @property
    def ok(self) -> bool:
        return self.error_kind is None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


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
class Budget:
    """Per-run limits; None means unlimited. Requests beyond them are not sent (error_kind budget)."""

    max_requests: int | None = None
    max_tokens: int | None = None
    max_dollars: float | None = None


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """A cheap, deliberately high estimate (3 chars per token + chat-template overhead per message),
    reserved while a request is in flight so concurrent requests cannot overrun the budget."""
    return sum(len(m["content"]) // 3 + 8 for m in request.messages)


@dataclass
class Usage:
    """Per-session accounting; thread-safe. Reservations make the budget hold under concurrency."""

    prices: Prices = field(default_factory=Prices)
    budget: Budget = field(default_factory=Budget)
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
        """Reserve budget for one HTTP attempt; None (and budget_stopped) if it would exceed a limit."""
        tokens = estimate_prompt_tokens(request) + request.max_tokens
        dollars = self.prices.dollars(estimate_prompt_tokens(request), request.max_tokens)
        b = self.budget
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
                "budget": asdict(self.budget),
            }


class ResultCache(Protocol):
    """Where paid-for results live; `put_many` must be durable when it returns."""

    def get_many(self, keys: Sequence[str]) -> dict[str, ChatResult]: ...

    def put_many(self, entries: Sequence[tuple[ChatRequest, ChatResult]]) -> None: ...


class MemoryCache:
    """A dict-backed ResultCache (tests, benchmarks)."""

    def __init__(self) -> None:
        self.entries: dict[str, ChatResult] = {}

    def get_many(self, keys: Sequence[str]) -> dict[str, ChatResult]:
        return {k: self.entries[k] for k in keys if k in self.entries}

    def put_many(self, entries: Sequence[tuple[ChatRequest, ChatResult]]) -> None:
        for _request, result in entries:
            self.entries[result.request_key] = result


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
        accept = accept or (lambda _result: True)
        keys = [self.key(r) for r in requests]
        cached = {k: v for k, v in self.cache.get_many(sorted(set(keys))).items() if accept(v)}
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
