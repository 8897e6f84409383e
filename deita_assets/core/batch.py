"""LLM requests through the OpenAI Batch API (about half the price of online requests).

The cache-missing requests become Batch API JSONL lines whose `custom_id` is the content-addressed
request key and whose `body` is exactly what the online client sends; the file is uploaded, one batch
created and polled, and each output line is parsed with the online parser, so only parseable replies
reach the same `ResultCache` and a rerun (online or batch) pays nothing. The batch id is persisted
(`BatchLog`) under a hash of the set of request keys: a process killed while polling resumes polling
that batch instead of paying for a second one. The same JSONL runs offline through `vllm run-batch`
(`write_requests_jsonl` / `import_results_jsonl`).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import openai

from deita_assets.core.llm_client import ClientSettings, completion_body, parse_completion
from deita_assets.core.llm_costs import Usage
from deita_assets.core.llm_errors import (
    BUDGET,
    CLIENT_ERROR,
    MALFORMED,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
    attempt_outcome,
    classify_error,
    redact,
)
from deita_assets.core.llm_types import (
    ChatRequest,
    ChatResult,
    ResultCache,
    accepted_hits,
    canonical_json,
    request_key,
)

# Failure kinds of batch mode (beside the online ones for per-line HTTP statuses).
BATCH_EXPIRED = "batch_expired"
BATCH_FAILED = "batch_failed"
BATCH_CANCELLED = "batch_cancelled"
BATCH_MISSING = "batch_missing"  # the batch completed but has no line for this request
BATCH_EXPORTED = "batch_exported"  # written as JSONL for an offline run (`vllm run-batch`), not sent
ENDPOINT = "/v1/chat/completions"
TERMINAL = {"completed": BATCH_MISSING, "expired": BATCH_EXPIRED, "failed": BATCH_FAILED}
TERMINAL |= {"cancelled": BATCH_CANCELLED}


@dataclass(frozen=True)
class BatchSettings:
    """Polling: every `poll_interval` s until the batch ends or `deadline` s have passed (then the
    rows fail as timeout and the batch id stays recorded, so the next run resumes it)."""

    poll_interval: float = 30.0
    deadline: float = 24 * 3600.0
    completion_window: str = "24h"
    export_dir: Path | None = None  # set: write the misses' JSONL here instead of submitting


class BatchLog(Protocol):
    """Where submitted batch ids live until their results are read (the resume point)."""

    def get(self, set_key: str) -> str | None: ...

    def put(self, set_key: str, batch_id: str, input_file_id: str) -> None: ...

    def delete(self, set_key: str) -> None: ...


class MemoryBatchLog:
    """A dict-backed BatchLog (tests)."""

    def __init__(self) -> None:
        self.batches: dict[str, str] = {}

    def get(self, set_key: str) -> str | None:
        return self.batches.get(set_key)

    def put(self, set_key: str, batch_id: str, input_file_id: str) -> None:
        self.batches[set_key] = batch_id

    def delete(self, set_key: str) -> None:
        self.batches.pop(set_key, None)


def set_key(keys: Iterable[str]) -> str:
    """Hash of the set of request keys a batch answers: the same misses resume the same batch."""
    return hashlib.sha256("\n".join(sorted(set(keys))).encode()).hexdigest()


def batch_line(request: ChatRequest, settings: ClientSettings) -> dict[str, Any]:
    """One Batch API input line: custom_id is the content-addressed key, body the online body."""
    return {
        "custom_id": request_key(request, settings.backend, settings.model),
        "method": "POST",
        "url": ENDPOINT,
        "body": completion_body(request, settings),
    }


def failure(key: str, kind: str, detail: str, settings: ClientSettings) -> ChatResult:
    detail = redact(detail, settings.api_key)[:500]
    return ChatResult(key, None, None, 0, 0, False, kind, detail, settings.backend, settings.model)


def _status_kind(status: int) -> str:
    if status == 429:
        return RATE_LIMITED
    return SERVER_ERROR if status >= 500 or status == 408 else CLIENT_ERROR


def parse_output_line(line: Mapping[str, Any], settings: ClientSettings) -> tuple[ChatResult, str]:
    """(result, outcome) for one output/error-file line, parsed like an online reply.

    OpenAI and `vllm run-batch` write {"custom_id", "response": {"status_code", "body"}, "error"}.
    """
    key = str(line["custom_id"])
    response = line.get("response") or {}
    status = int(response.get("status_code") or 0)
    if line.get("error") or status != 200:
        error = line.get("error") or (response.get("body") or {}).get("error") or {}
        detail = f"HTTP {status}: {json.dumps(error, ensure_ascii=False)}"
        kind = _status_kind(status) if status else BATCH_FAILED
        return failure(key, kind, detail, settings), f"HTTP {status}" if status else BATCH_FAILED
    try:
        body = response["body"]
        text, finish, prompt, completion, logprobs = parse_completion(
            body if isinstance(body, str) else json.dumps(body)
        )
    except (ValueError, LookupError, TypeError) as error:  # IndexError: "choices": []
        return failure(key, MALFORMED, f"{type(error).__name__}: {error}", settings), MALFORMED
    result = ChatResult(
        key, text, finish, prompt, completion, False, None, None, settings.backend, settings.model, logprobs
    )
    return result, "ok"


def write_requests_jsonl(path: Path, requests: Sequence[ChatRequest], settings: ClientSettings) -> int:
    """Write the Batch API input (for `vllm run-batch -i`) and, beside it, `<name>.canonical.jsonl`
    with every request's canonical form, so `import_results_jsonl` can cache the replies. Returns the
    number of distinct requests written."""
    lines: dict[str, tuple[dict[str, Any], ChatRequest]] = {}
    for request in requests:
        line = batch_line(request, settings)
        lines.setdefault(line["custom_id"], (line, request))
    with path.open("w", encoding="utf-8") as out, _canonical_path(path).open("w", encoding="utf-8") as can:
        for key, (line, request) in lines.items():
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            canonical = request.canonical(settings.backend, settings.model)
            can.write(canonical_json({"custom_id": key, "request": canonical}) + "\n")
    return len(lines)


def _canonical_path(path: Path) -> Path:
    return path.with_name(path.stem + ".canonical.jsonl")


def request_from_canonical(canonical: Mapping[str, Any]) -> ChatRequest:
    return ChatRequest(
        messages=tuple(canonical["messages"]),
        template_version=canonical["template_version"],
        temperature=canonical["temperature"],
        max_tokens=canonical["max_tokens"],
        seed=canonical["seed"],
        json_schema=canonical["json_schema"],
        top_logprobs=canonical["top_logprobs"],
    )


def import_results_jsonl(requests_path: Path, results_path: Path, cache: ResultCache) -> dict[str, Any]:
    """Cache the parseable replies of a results JSONL (`vllm run-batch -o`) written for
    `requests_path`; returns counts (cached, failures by kind, lines for unknown requests)."""
    known: dict[str, tuple[ChatRequest, str, str]] = {}
    for raw in _canonical_path(requests_path).read_text(encoding="utf-8").splitlines():
        entry = json.loads(raw)
        canonical = entry["request"]
        request = request_from_canonical(canonical)
        backend, model = canonical["backend"], canonical["model"]
        if request_key(request, backend, model) != entry["custom_id"]:
            raise ValueError(f"canonical request for {entry['custom_id']} does not hash to its key")
        known[entry["custom_id"]] = (request, backend, model)
    counts: dict[str, Any] = {"cached": 0, "unknown": 0, "missing": 0, "failures_by_kind": {}}
    entries: list[tuple[ChatRequest, ChatResult]] = []
    seen: set[str] = set()
    for raw in results_path.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        line = json.loads(raw)
        if line.get("custom_id") not in known:
            counts["unknown"] += 1
            continue
        request, backend, model = known[line["custom_id"]]
        result, _ = parse_output_line(line, ClientSettings(base_url="", model=model, backend=backend))
        seen.add(result.request_key)
        if result.ok:
            entries.append((request, result))
        else:
            kinds = counts["failures_by_kind"]
            kinds[result.error_kind] = kinds.get(result.error_kind, 0) + 1
    cache.put_many(entries)
    counts["cached"] = len(entries)
    counts["missing"] = len(set(known) - seen)
    return counts


class BatchClient:
    """`chat_many` through one Batch API batch per call: cache first, submit (or resume) the misses,
    poll, read the output and error files, cache what parses and `accept` approves."""

    def __init__(
        self,
        settings: ClientSettings,
        batch: BatchSettings,
        cache: ResultCache,
        log: BatchLog,
        usage: Usage,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.batch = batch
        self.cache = cache
        self.log = log
        self.usage = usage
        self._sleep = sleep
        self._client = openai.OpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )

    def close(self) -> None:
        self._client.close()

    def key(self, request: ChatRequest) -> str:
        return request_key(request, self.settings.backend, self.settings.model)

    def chat_many(
        self, requests: Sequence[ChatRequest], accept: Callable[[ChatResult], bool] | None = None
    ) -> list[ChatResult]:
        """Answer every request in order (failures as results); same contract as ChatClient."""
        keys = [self.key(r) for r in requests]
        cached = accepted_hits(self.cache, keys, accept)
        accept = accept or (lambda _result: True)
        misses: dict[str, ChatRequest] = {}
        for key, request in zip(keys, requests, strict=True):
            if key not in cached:
                misses.setdefault(key, request)
        answered = self._answer(misses, accept) if misses else {}
        results = []
        seen: set[str] = set()
        for key in keys:
            if key in cached:
                result = replace(cached[key], cached=True)
            else:
                result = answered[key]
                if key in seen:  # a duplicate in this call: the first one paid
                    result = replace(result, cached=result.ok)
                seen.add(key)
            self.usage.record(result)
            results.append(result)
        return results

    def _answer(
        self, misses: Mapping[str, ChatRequest], accept: Callable[[ChatResult], bool]
    ) -> dict[str, ChatResult]:
        answered: dict[str, ChatResult] = {}
        submit: dict[str, ChatRequest] = {}
        reservations = {}
        for key, request in misses.items():
            reservation = self.usage.try_reserve(request)
            if reservation is None:
                answered[key] = failure(
                    key, BUDGET, "per-run budget reached; request not sent", self.settings
                )
            else:
                submit[key], reservations[key] = request, reservation
        if not submit:
            return answered
        batch_key = set_key(submit)
        if self.batch.export_dir is not None:
            return answered | self._export(batch_key, submit, reservations)
        try:
            status, batch = self._wait(batch_key, submit)
            done = status in TERMINAL
            lines = self._read(batch.output_file_id) + self._read(batch.error_file_id) if done else []
        except openai.OpenAIError as error:  # upload, create, poll or download failed after retries
            self.usage.add_outcome(attempt_outcome(error))
            detail = f"{type(error).__name__}: {error}"
            return answered | self._fail_all(submit, reservations, classify_error(error)[0], detail)
        batch_id = batch.id
        if not done:
            detail = f"batch {batch_id} still {status} at the {self.batch.deadline:g} s deadline"
            return answered | self._fail_all(submit, reservations, TIMEOUT, detail + "; rerun resumes it")
        to_cache = []
        for line in lines:
            result, outcome = parse_output_line(line, self.settings)
            if result.request_key not in submit or result.request_key in answered:
                continue
            self.usage.add_outcome(outcome)
            self.usage.release(
                reservations.pop(result.request_key), result.prompt_tokens, result.completion_tokens
            )
            answered[result.request_key] = result
            if result.ok and accept(result):
                to_cache.append((submit[result.request_key], result))
        self.cache.put_many(to_cache)
        errors = (
            "; ".join(e.message or e.code or "" for e in (batch.errors.data or [])) if batch.errors else ""
        )
        for key in submit.keys() - answered.keys():
            self.usage.release(reservations.pop(key))
            why = f"batch {batch_id} {status} without a line for this request" + (
                f": {errors}" if errors else ""
            )
            answered[key] = failure(key, TERMINAL[status], why, self.settings)
        self.log.delete(batch_key)  # read: a rerun submits only what is still missing
        return answered

    def _export(
        self, batch_key: str, submit: Mapping[str, ChatRequest], reservations: Mapping[str, Any]
    ) -> dict[str, ChatResult]:
        """Write the JSONL for an offline run; the rows fail as batch_exported, naming the file."""
        self.batch.export_dir.mkdir(parents=True, exist_ok=True)
        path = self.batch.export_dir / f"requests-{batch_key[:16]}.jsonl"
        write_requests_jsonl(path, list(submit.values()), self.settings)
        why = f"written to {path}; run it (vllm run-batch) and import the results"
        return self._fail_all(submit, reservations, BATCH_EXPORTED, why)

    def _fail_all(
        self, submit: Mapping[str, ChatRequest], reservations: Mapping[str, Any], kind: str, detail: str
    ) -> dict[str, ChatResult]:
        for reservation in reservations.values():
            self.usage.release(reservation)
        return {key: failure(key, kind, detail, self.settings) for key in submit}

    def _wait(self, batch_key: str, submit: Mapping[str, ChatRequest]) -> tuple[str, Any]:
        """Poll the recorded batch for these requests, or submit one; (status, batch) at the end."""
        resumed = self.log.get(batch_key)
        if resumed is not None:
            try:
                return self._poll(resumed)
            except openai.NotFoundError:  # gone at the provider (deleted, another account): submit anew
                self.log.delete(batch_key)
        return self._poll(self._submit(batch_key, submit.values()))

    def _submit(self, batch_key: str, requests: Iterable[ChatRequest]) -> str:
        payload = "".join(
            json.dumps(batch_line(r, self.settings), ensure_ascii=False) + "\n" for r in requests
        )
        upload = self._client.files.create(
            file=(f"deita-{batch_key[:16]}.jsonl", io.BytesIO(payload.encode())), purpose="batch"
        )
        created = self._client.batches.create(
            input_file_id=upload.id,
            endpoint=ENDPOINT,
            completion_window=self.batch.completion_window,
            metadata={"deita_set_key": batch_key},
        )
        self.log.put(batch_key, created.id, upload.id)
        return created.id

    def _poll(self, batch_id: str) -> tuple[str, Any]:
        """(status, batch) once it ends or the deadline passes."""
        started = time.monotonic()
        while True:
            batch = self._client.batches.retrieve(batch_id)
            if batch.status in TERMINAL or time.monotonic() - started >= self.batch.deadline:
                return batch.status, batch
            self._sleep(self.batch.poll_interval)

    def _read(self, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        lines = []
        for raw in self._client.files.content(file_id).text.splitlines():
            try:
                line = json.loads(raw) if raw.strip() else None
            except ValueError:
                line = {}
            if line is None:
                continue
            if isinstance(line, dict) and "custom_id" in line:
                lines.append(line)
            else:  # not a result line: its request is then counted as missing
                self.usage.add_outcome(MALFORMED)
        return lines
