"""Batch mode against a loopback Files + Batches server, through the real openai client."""

import json
from pathlib import Path

from deita_assets.core.batch import (
    BATCH_EXPIRED,
    BatchClient,
    BatchSettings,
    MemoryBatchLog,
    import_results_jsonl,
    set_key,
    write_requests_jsonl,
)
from deita_assets.core.llm_client import ClientSettings
from deita_assets.core.llm_costs import Prices, Usage
from deita_assets.core.llm_errors import CLIENT_ERROR, MALFORMED
from deita_assets.core.llm_types import ChatRequest, MemoryCache, request_key
from deita_assets_tests.support.batch_test_server import BatchTestServer

FAST = BatchSettings(poll_interval=0.01, deadline=5.0)


def req(text: str) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": text},), template_version="t1")


def client(
    server: BatchTestServer, cache: MemoryCache, log: MemoryBatchLog, batch=FAST, usage=None
) -> BatchClient:
    settings = ClientSettings(base_url=server.base_url, model="m", backend="test", api_key="sk-fake")
    return BatchClient(settings, batch, cache, log, usage or Usage())


def test_batch_results_land_in_cache_and_rerun_pays_nothing() -> None:
    cache, log = MemoryCache(), MemoryBatchLog()
    usage = Usage(prices=Prices(1.0, 2.0).scaled(0.5))
    with BatchTestServer(polls_before_done=2) as server:
        results = client(server, cache, log, usage=usage).chat_many([req("a"), req("b"), req("a")])
        assert [r.text for r in results] == ["reply: a", "reply: b", "reply: a"]
        assert dict(server.calls) == {"upload": 1, "create": 1, "retrieve": 3, "content": 1}
        body = json.loads(server.files["file-0"].splitlines()[0])
        assert body["method"] == "POST" and body["url"] == "/v1/chat/completions"
        assert body["body"]["model"] == "m" and body["custom_id"] == results[0].request_key
        again = client(server, cache, log).chat_many([req("a"), req("b")])
        assert all(r.cached for r in again) and server.calls["create"] == 1
    snap = usage.snapshot()
    assert snap["completed"] == 2 and snap["prompt_tokens"] == 20 and snap["completion_tokens"] == 10
    assert snap["estimated_usd"] == round((20 * 0.5 + 10 * 1.0) / 1e6, 6)
    assert log.batches == {}


def test_a_killed_poll_resumes_the_same_batch_without_a_second_create() -> None:
    cache, log = MemoryCache(), MemoryBatchLog()
    with BatchTestServer(polls_before_done=100) as server:
        first = client(server, cache, log, BatchSettings(poll_interval=0.01, deadline=0.05))
        cut = first.chat_many([req("a"), req("b")])
        assert {r.error_kind for r in cut} == {"timeout"} and "rerun resumes" in cut[0].error_detail
        assert log.get(set_key(r.request_key for r in cut)) == "batch-0"
        server.polls_before_done = 0
        resumed = client(server, cache, log).chat_many([req("a"), req("b")])
    assert [r.text for r in resumed] == ["reply: a", "reply: b"]
    assert server.calls["create"] == 1 and server.calls["upload"] == 1


def test_expired_batch_keeps_its_done_lines_and_counts_the_rest() -> None:
    cache, log = MemoryCache(), MemoryBatchLog()
    usage = Usage()
    with BatchTestServer(final_status="expired", done_lines=1) as server:
        results = client(server, cache, log, usage=usage).chat_many([req("a"), req("b"), req("c")])
    assert results[0].text == "reply: a" and [r.error_kind for r in results[1:]] == [BATCH_EXPIRED] * 2
    assert "expired without a line" in results[1].error_detail
    assert list(cache.entries) == [results[0].request_key]
    assert usage.snapshot()["failures_by_kind"] == {BATCH_EXPIRED: 2}


def test_failed_lines_and_unparseable_replies_are_counted_not_cached() -> None:
    cache, log = MemoryCache(), MemoryBatchLog()
    usage = Usage()
    with BatchTestServer(line_status={"bad": 400}, garbage_for=("junk",)) as server:
        results = client(server, cache, log, usage=usage).chat_many([req("ok"), req("bad"), req("junk")])
    assert [r.error_kind for r in results] == [None, CLIENT_ERROR, MALFORMED]
    assert "HTTP 400" in results[1].error_detail and "refused" in results[1].error_detail
    assert list(cache.entries) == [results[0].request_key]
    snap = usage.snapshot()
    assert snap["failures_by_kind"] == {CLIENT_ERROR: 1, MALFORMED: 1}
    assert snap["http_outcomes"] == {"HTTP 400": 1, MALFORMED: 1, "ok": 1}


def test_failed_batch_counts_every_request_with_the_batch_errors() -> None:
    with BatchTestServer(final_status="failed", done_lines=0) as server:
        results = client(server, MemoryCache(), MemoryBatchLog()).chat_many([req("a")])
    assert results[0].error_kind == "batch_failed" and "bad input file" in results[0].error_detail


def test_jsonl_export_then_import_of_run_batch_output(tmp_path: Path) -> None:
    settings = ClientSettings(base_url="", model="m", backend="vllm-offline")
    requests_path = tmp_path / "requests.jsonl"
    assert write_requests_jsonl(requests_path, [req("a"), req("b"), req("a")], settings) == 2
    lines = [json.loads(raw) for raw in requests_path.read_text().splitlines()]
    outputs = [
        {
            "id": "vllm-1",
            "custom_id": lines[0]["custom_id"],
            "response": {
                "status_code": 200,
                "request_id": "r1",
                "body": {"choices": [{"message": {"content": "x"}, "finish_reason": "stop"}], "usage": {}},
            },
            "error": None,
        },
        {"id": "vllm-2", "custom_id": lines[1]["custom_id"], "response": None, "error": "engine died"},
    ]
    results_path = tmp_path / "results.jsonl"
    results_path.write_text("".join(json.dumps(o) + "\n" for o in outputs))
    cache = MemoryCache()
    counts = import_results_jsonl(requests_path, results_path, cache)
    assert counts == {"cached": 1, "unknown": 0, "missing": 0, "failures_by_kind": {"batch_failed": 1}}
    assert cache.entries[lines[0]["custom_id"]].text == "x"


def test_a_recorded_batch_gone_at_the_provider_is_submitted_anew() -> None:
    log = MemoryBatchLog()
    log.put(set_key([request_key(req("a"), "test", "m")]), "batch-deleted", "file-x")
    with BatchTestServer() as server:
        results = client(server, MemoryCache(), log).chat_many([req("a")])
    assert results[0].text == "reply: a" and server.calls["create"] == 1 and log.batches == {}


def test_an_unreachable_endpoint_fails_every_row_with_the_reason() -> None:
    with BatchTestServer() as server:
        dead = ClientSettings(base_url=server.base_url, model="m", backend="test", max_retries=0)
    usage = Usage()  # the server is closed now: the upload cannot connect
    results = BatchClient(dead, FAST, MemoryCache(), MemoryBatchLog(), usage).chat_many([req("a"), req("b")])
    assert {r.error_kind for r in results} == {"connection"} and "APIConnectionError" in results[
        0
    ].error_detail
    assert usage.snapshot()["failures_by_kind"] == {"connection": 2}
