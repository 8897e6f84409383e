"""The `llm` resource: any OpenAI-compatible endpoint, or a local llama.cpp server when none is set.

Every request goes through the DuckDB table `llm_cache` (content-addressed), so results already
paid for are never requested again — also after a crash midway, because finished results are
written in small batches while the rest are still in flight. The API key comes from an env var
(`dg.EnvVar`), is handed only to the openai client, and is redacted from every error text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import fields
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import pyarrow as pa
from pydantic import Field

from deita_assets.core.batch import BatchClient, BatchSettings
from deita_assets.core.llm_client import ChatClient, ClientSettings
from deita_assets.core.llm_costs import Prices, SpendLimit, Usage
from deita_assets.core.llm_types import ChatRequest, ChatResult, canonical_json
from deita_assets.core.local_llm_server import LOCAL_BACKEND, local_llm_server
from deita_assets.core.models import BUNDLED_LLM
from deita_assets.core.report import markdown_table
from deita_assets.resources.store import DuckDBStore


class DuckDBResultCache:
    """`llm_cache` as a ResultCache: batched lookups; each batch appended as one file by any number of
    concurrent runs, the latest reply per key winning (a re-asked reply replaces a rejected one)."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store

    def get_many(self, keys: Sequence[str]) -> dict[str, ChatResult]:
        if not keys:
            return {}
        rows = self.store.fetch_arrow("select_llm_cache", [list(keys)]).to_pylist()
        return {
            row["request_key"]: ChatResult(
                request_key=row["request_key"],
                text=row["response_text"],
                finish_reason=row["finish_reason"],
                prompt_tokens=row["prompt_tokens"] or 0,
                completion_tokens=row["completion_tokens"] or 0,
                cached=True,
                error_kind=None,
                error_detail=None,
                backend=row["backend"],
                model=row["model"],
                top_logprobs=json.loads(row["logprobs_json"]) if row["logprobs_json"] else None,
            )
            for row in rows
        }

    def put_many(self, entries: Sequence[tuple[ChatRequest, ChatResult]]) -> None:
        if not entries:
            return
        rows = pa.Table.from_pylist(
            [
                {
                    "request_key": result.request_key,
                    "backend": result.backend,
                    "model": result.model,
                    "template_version": request.template_version,
                    "request_json": canonical_json(request.canonical(result.backend, result.model)),
                    "response_text": result.text,
                    "finish_reason": result.finish_reason,
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                    "logprobs_json": json.dumps(result.top_logprobs) if result.top_logprobs else None,
                }
                for request, result in entries
            ]
        )
        self.store.append("llm_cache", rows)


class DuckDBBatchLog:
    """`llm_batches` as a BatchLog: submitted batch ids by request-set hash, until their results are read."""

    def __init__(self, store: DuckDBStore, backend: str, model: str) -> None:
        self.store = store
        self.backend = backend
        self.model = model

    def get(self, set_key: str) -> str | None:
        rows = self.store.fetch_arrow("select_llm_batch", [set_key]).to_pylist()
        return rows[0]["batch_id"] if rows else None

    def put(self, set_key: str, batch_id: str, input_file_id: str) -> None:
        row = {"set_key": set_key, "batch_id": batch_id, "input_file_id": input_file_id}
        row |= {"backend": self.backend, "model": self.model}  # submitted_at: the DDL's default
        self.store.replace_partition("llm_batches", [set_key], pa.Table.from_pylist([row]))

    def delete(self, set_key: str) -> None:
        self.store.replace_partition(
            "llm_batches", [set_key], pa.table({"set_key": pa.array([], pa.string())})
        )


class LLMSession:
    """What assets use inside `with llm.session() as session:`."""

    def __init__(self, client: ChatClient | BatchClient, structured_output: bool) -> None:
        self.client = client
        self.backend = client.settings.backend
        self.model = client.settings.model
        self.structured_output = structured_output

    def chat_many(
        self, requests: Sequence[ChatRequest], accept: Callable[[ChatResult], bool] | None = None
    ) -> list[ChatResult]:
        """Results in request order; concurrency bounded; every request through the cache, which
        keeps only replies `accept` approves (and re-asks cached ones it rejects)."""
        return self.client.chat_many(requests, accept)

    def usage_metadata(self) -> dict[str, Any]:
        """Requests, cache hits, tokens, estimated dollars and failures by kind, for MaterializeResult."""
        usage = self.client.usage.snapshot()
        failures = usage.pop("failures_by_kind")
        outcomes = usage.pop("http_outcomes")
        meta: dict[str, Any] = {f"llm_{name}": value for name, value in usage.items() if name != "budget"}
        meta["llm_backend"] = self.backend
        meta["llm_model"] = self.model
        meta["llm_budget"] = dg.MetadataValue.json(usage["budget"])
        meta["llm_failures_by_kind"] = dg.MetadataValue.md(
            markdown_table([{"kind": k, "count": v} for k, v in failures.items()]) if failures else "_none_"
        )
        meta["llm_http_outcomes"] = dg.MetadataValue.md(  # what every HTTP attempt sent got back
            markdown_table([{"outcome": k, "attempts": v} for k, v in outcomes.items()])
            if outcomes
            else "_none_"
        )
        return meta


def endpoint_label(base_url: str) -> str:
    """The endpoint without credentials, query or trailing slash: recorded as `backend`."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


_CLIENT = ClientSettings(base_url="", model="", backend="")  # the client knobs' defaults, declared there
_BATCH = BatchSettings()
ENV_PREFIX = "DEITA_LLM_"  # every field but `store` is set by DEITA_LLM_<FIELD NAME>, e.g. DEITA_LLM_TIMEOUT


class LLMResource(dg.ConfigurableResource):
    """An OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp, Ollama, …) with cache, retries,
    bounded concurrency, cost accounting and a per-run budget. No base_url: a local llama.cpp server
    (xllamacpp) on the bundled SmolLM2-135M-Instruct, started per session on 127.0.0.1."""

    store: DuckDBStore = Field(description="Where replies are cached (`llm_cache`) and batch ids kept.")
    base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL (…/v1). None: start the local offline server."
    )
    model: str = Field(default=BUNDLED_LLM, description="Model name at the endpoint (local: alias or .gguf).")
    api_key: str | None = Field(
        default=None, description="API key; pass dg.EnvVar('DEITA_LLM_API_KEY'). Never logged or stored."
    )
    backend_label: str | None = Field(
        default=None, description="Name recorded as `backend` (default: the base URL without credentials)."
    )
    timeout: float = Field(
        default=_CLIENT.timeout,
        description="Total seconds per HTTP attempt (headers and whole body), not per read.",
    )
    run_deadline: float | None = Field(
        default=None, description="Seconds per session: attempts after it are not sent (counted as timeout)."
    )
    max_concurrency: int = Field(default=_CLIENT.max_concurrency, description="Requests in flight at once.")
    max_retries: int = Field(
        default=_CLIENT.max_retries, description="Retries on 429/5xx/timeouts/connection/malformed replies."
    )
    backoff_base: float = Field(
        default=_CLIENT.backoff_base, description="First backoff ceiling in seconds (full jitter)."
    )
    backoff_cap: float = Field(default=_CLIENT.backoff_cap, description="Largest backoff ceiling in seconds.")
    max_retry_after: float = Field(
        default=_CLIENT.max_retry_after, description="Cap on a server's Retry-After in seconds."
    )
    prompt_usd_per_million: float = Field(default=0.0, description="Price of prompt tokens (USD / 1M).")
    completion_usd_per_million: float = Field(
        default=0.0, description="Price of completion tokens (USD / 1M)."
    )
    max_requests: int | None = Field(default=None, description="Budget: HTTP attempts per session.")
    max_total_tokens: int | None = Field(default=None, description="Budget: prompt+completion tokens.")
    max_dollars: float | None = Field(default=None, description="Budget: estimated USD per session.")
    structured_output: bool = Field(
        default=_CLIENT.structured_output,
        description="Send response_format json_schema when a request has a schema.",
    )
    max_tokens_param: str = Field(
        default=_CLIENT.max_tokens_param,
        description="'max_tokens', or 'max_completion_tokens' for newer OpenAI models.",
    )
    mode: Literal["online", "batch", "export"] = Field(
        default="online",
        description="online: one request per row; batch: one Batch API batch per call (about half the "
        "price, waits for it); export: write the misses as Batch API JSONL for `vllm run-batch`, "
        "send nothing.",
    )
    batch_price_factor: float = Field(
        default=0.5,
        description="Batch mode: prices times this (OpenAI and most providers bill batches at 50%).",
    )
    batch_poll_interval: float = Field(
        default=_BATCH.poll_interval, description="Batch mode: seconds between status polls."
    )
    batch_deadline: float = Field(
        default=_BATCH.deadline,
        description="Batch mode: seconds to wait per batch; then rows fail as timeout and a rerun "
        "resumes it.",
    )
    batch_export_dir: str | None = Field(
        default=None, description="Export mode: folder for the JSONL (default $DEITA_HOME/llm_batches)."
    )
    local_server_url: str | None = Field(
        default=None,
        description="Local backend: a server of the bundled model already running at this …/v1 URL "
        "(the quick start keeps one up across the LLM stages) instead of one started per session.",
    )
    local_parallel: int = Field(default=4, description="Local server: parallel slots (continuous batching).")
    local_ctx_per_slot: int = Field(default=4096, description="Local server: context tokens per slot.")
    local_threads: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2),
        description="Local server: CPU threads (default half the cores: llama.cpp slows sharply when its "
        "threads compete with other processes for every core).",
    )

    def _client(self, settings: ClientSettings, usage: Usage) -> ChatClient | BatchClient:
        cache = DuckDBResultCache(self.store)
        if self.mode == "online":
            return ChatClient(settings, cache, usage)
        export_dir = None
        if self.mode == "export":
            export_dir = Path(self.batch_export_dir or self.store.path.parent / "llm_batches")
        batch = BatchSettings(self.batch_poll_interval, self.batch_deadline, export_dir=export_dir)
        log = DuckDBBatchLog(self.store, settings.backend, settings.model)
        return BatchClient(settings, batch, cache, log, usage)

    @contextmanager
    def session(self) -> Iterator[LLMSession]:
        """Start the backend if local, yield a session, then stop it; usage is per session."""
        local = self.base_url is None
        if local and self.mode == "batch":
            raise ValueError(
                "DEITA_LLM_MODE=batch needs DEITA_LLM_BASE_URL: the local server has no Batch API"
            )
        server = (
            nullcontext(self.base_url or self.local_server_url or "http://127.0.0.1/v1")
            if not local or self.local_server_url or self.mode == "export"  # export sends nothing
            else local_llm_server(
                self.model, self.local_ctx_per_slot, self.local_parallel, self.local_threads
            )
        )
        with server as base_url:
            knobs = {name: getattr(self, name) for name in CLIENT_KNOBS}
            settings = ClientSettings(
                **knobs
                | {
                    "base_url": base_url,
                    "backend": self.backend_label or (LOCAL_BACKEND if local else endpoint_label(base_url)),
                    "api_key": self.api_key or "unused",
                    "max_concurrency": self.local_parallel if local else self.max_concurrency,
                }
            )
            prices = Prices(self.prompt_usd_per_million, self.completion_usd_per_million)
            usage = Usage(
                prices=prices if self.mode == "online" else prices.scaled(self.batch_price_factor),
                spend_limit=SpendLimit(self.max_requests, self.max_total_tokens, self.max_dollars),
            )
            client = self._client(settings, usage)
            try:
                yield LLMSession(client, self.structured_output)
            finally:
                client.close()


# The ClientSettings fields the resource declares too: passed through by name, never listed again.
CLIENT_KNOBS = tuple(f.name for f in fields(ClientSettings) if f.name in LLMResource.model_fields)


def env_var(name: str) -> str:
    """The env var that sets field `name` (one rule, so no knob's variable is spelled twice)."""
    return f"{ENV_PREFIX}{name.upper()}"


def _from_env(annotation: Any, var: str, value: str) -> Any:
    """An env var's value for a field of this type: strings and ints bound as dg.EnvVar (the key above
    all stays out of run config and the UI), floats, choices and flags as plain values."""
    optional = get_origin(annotation) in (Union, UnionType)
    kind = next(a for a in get_args(annotation) if a is not type(None)) if optional else annotation
    if kind is bool:
        return value.strip().lower() not in ("0", "false", "no")
    if get_origin(kind) is Literal:
        return value.strip()
    if kind is int:
        return dg.EnvVar.int(var)
    if kind is float:
        return float(value)
    return dg.EnvVar(var)


def llm_from_env(environ: Mapping[str, str], store: DuckDBStore) -> LLMResource:
    """LLMResource caching into `store`, every field from DEITA_LLM_<FIELD> when set; unset vars keep
    the offline defaults."""
    config = {
        name: _from_env(info.annotation, env_var(name), environ[env_var(name)])
        for name, info in LLMResource.model_fields.items()
        if name != "store" and environ.get(env_var(name))
    }
    return LLMResource(store=store, **config)
