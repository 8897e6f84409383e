"""The LLM layer's vocabulary: requests, their content-addressed keys, results, the cache protocol.

Everything speaks the chat-completions protocol, so OpenAI, vLLM, llama.cpp's server, Ollama or any
compatible endpoint work unchanged. The cache is abstract here (`ResultCache`); the Dagster resource
backs it with the DuckDB table `llm_cache`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


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


def accepted_hits(
    cache: ResultCache, keys: Sequence[str], accept: Callable[[ChatResult], bool] | None
) -> dict[str, ChatResult]:
    """Cached replies the stage still accepts (no `accept`: all); a rejected one is asked again."""
    return {k: v for k, v in cache.get_many(sorted(set(keys))).items() if accept is None or accept(v)}
