"""The LLM client against the loopback test server: results, faults, retries, budget, cache."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from deita_assets.core.llm_client import ChatClient, ClientSettings
from deita_assets.core.llm_costs import Prices, SpendLimit, Usage
from deita_assets.core.llm_errors import (
    BUDGET,
    CONNECTION,
    MALFORMED,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
    redact,
)
from deita_assets.core.llm_types import ChatRequest, MemoryCache, request_key
from deita_assets_tests.support.llm_test_server import LLMTestServer

FAKE_KEY = "sk-test-FAKEKEY-0123456789abcdef"


def req(text: str, **kwargs) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": text},), template_version="t1", **kwargs)


@contextmanager
def client_for(server: LLMTestServer, cache=None, usage=None, **settings) -> Iterator[ChatClient]:
    options = {
        "timeout": 5.0,
        "max_concurrency": 4,
        "max_retries": 3,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
    }
    options |= settings
    client = ChatClient(
        ClientSettings(base_url=server.base_url, model="m", backend="test", api_key=FAKE_KEY, **options),
        cache if cache is not None else MemoryCache(),
        usage or Usage(),
    )
    try:
        yield client
    finally:
        client.close()


def test_request_key_covers_everything_that_changes_the_reply() -> None:
    base = request_key(req("a"), "b", "m")
    assert base == request_key(req("a"), "b", "m")
    variants = [
        request_key(req("a"), "b2", "m"),
        request_key(req("a"), "b", "m2"),
        request_key(req("a2"), "b", "m"),
        request_key(req("a", seed=1), "b", "m"),
        request_key(req("a", temperature=0.7), "b", "m"),
        request_key(req("a", max_tokens=7), "b", "m"),
        request_key(req("a", json_schema={"type": "object"}), "b", "m"),
        request_key(ChatRequest(({"role": "user", "content": "a"},), "t2"), "b", "m"),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_results_in_order_and_cached_second_time() -> None:
    cache = MemoryCache()
    requests = [req(f"q{i}") for i in range(20)] + [req("q3")]  # a duplicate is asked once
    with LLMTestServer() as server:
        with client_for(server, cache) as client:
            results = client.chat_many(requests)
            assert [r.text for r in results] == [f"reply: q{i}" for i in range(20)] + ["reply: q3"]
            assert server.requests == 20
            assert all(r.ok and r.backend == "test" and r.model == "m" for r in results)
            assert client.usage.snapshot()["completed"] == 20
        usage = Usage()
        with client_for(server, cache, usage) as client:
            again = client.chat_many(requests)
        assert server.requests == 20  # warm cache: no HTTP
        assert [r.text for r in again] == [r.text for r in results]
        assert all(r.cached for r in again) and usage.cache_hits == 21 and usage.http_requests == 0
        assert server.authorizations == {f"Bearer {FAKE_KEY}"}


def test_retry_after_is_honoured_and_retries_are_counted() -> None:
    with LLMTestServer(faults=["429", "500"], retry_after="1") as server, client_for(server) as client:
        start = time.monotonic()
        (result,) = client.chat_many([req("x")])
        elapsed = time.monotonic() - start
    assert result.ok and result.text == "reply: x"
    assert elapsed >= 1.0  # waited out Retry-After instead of the tiny backoff
    assert server.requests == 3 and client.usage.retries == 2 and client.usage.http_requests == 3


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("500", SERVER_ERROR),
        ("429", RATE_LIMITED),
        ("timeout", TIMEOUT),
        ("malformed_json", MALFORMED),
        ("garbage", MALFORMED),
        ("truncated_body", CONNECTION),
    ],
)
def test_persistent_faults_fail_after_bounded_retries(fault: str, kind: str) -> None:
    with LLMTestServer(faults_for={"bad": [fault] * 10}, retry_after="0", timeout_sleep=1.5) as server:
        cache = MemoryCache()
        with client_for(server, cache, max_retries=2, timeout=0.5) as client:
            good, bad = client.chat_many([req("good"), req("bad")])
    assert good.ok and good.text == "reply: good"
    assert not bad.ok and bad.text is None and bad.error_kind == kind
    assert "after 3 attempts" in bad.error_detail and FAKE_KEY not in bad.error_detail
    assert server.faults_served[fault] == 3  # 1 + max_retries, then recorded
    assert client.usage.failures == {kind: 1}
    assert set(cache.entries) == {good.request_key}  # failures are not cached: a rerun retries them


def test_transient_faults_recover() -> None:
    faults = {"a": ["malformed_json"], "b": ["garbage"], "c": ["truncated_body"], "d": ["500", "500"]}
    with LLMTestServer(faults_for=faults) as server, client_for(server) as client:
        results = client.chat_many([req(k) for k in "abcd"])
    assert [r.text for r in results] == [f"reply: {k}" for k in "abcd"]
    assert client.usage.retries == 5 and client.usage.snapshot()["failed"] == 0


def test_truncated_and_empty_replies_are_results_not_errors() -> None:
    with (
        LLMTestServer(faults_for={"long": ["length"], "void": ["empty"]}) as server,
        client_for(server) as client,
    ):
        long, void = client.chat_many([req("long text here"), req("void")])
    assert long.ok and long.truncated and long.text == "reply: lon"
    assert void.ok and void.text == ""


def test_budget_stops_cleanly_and_keeps_what_was_done() -> None:
    cache = MemoryCache()
    usage = Usage(prices=Prices(1.0, 2.0), spend_limit=SpendLimit(max_requests=5))
    with LLMTestServer() as server, client_for(server, cache, usage, max_concurrency=2) as client:
        results = client.chat_many([req(f"q{i}") for i in range(12)])
    ok = [r for r in results if r.ok]
    assert len(ok) == 5 and server.requests == 5 and len(cache.entries) == 5
    assert {r.error_kind for r in results if not r.ok} == {BUDGET}
    snap = usage.snapshot()
    assert snap["budget_stopped"] and snap["failures_by_kind"] == {BUDGET: 7}
    expected = (snap["prompt_tokens"] * 1.0 + snap["completion_tokens"] * 2.0) / 1e6
    assert snap["estimated_usd"] == pytest.approx(expected, abs=1e-6) and expected > 0


def test_dollar_budget_reserves_in_flight_requests() -> None:
    usage = Usage(prices=Prices(1e6, 1e6), spend_limit=SpendLimit(max_dollars=40.0))  # $1 per token
    with LLMTestServer() as server, client_for(server, usage=usage, max_concurrency=8) as client:
        results = client.chat_many([req("q", max_tokens=4, seed=i) for i in range(30)])
    assert usage.dollars <= 40.0 and any(r.ok for r in results)
    assert usage.budget_stopped and server.requests == sum(r.ok for r in results)


def test_crash_midway_keeps_paid_results() -> None:
    """Results are flushed to the cache as they arrive: a failure in the caller loses nothing paid."""

    class ExplodingCache(MemoryCache):
        armed = True

        def put_many(self, entries):
            super().put_many(entries)
            if self.armed and len(self.entries) >= 4:
                self.armed = False
                raise RuntimeError("simulated crash")

    cache = ExplodingCache()
    with LLMTestServer(latency=0.02) as server:
        with (
            client_for(server, cache, max_concurrency=2, flush_every=2) as client,
            pytest.raises(RuntimeError),
        ):
            client.chat_many([req(f"q{i}") for i in range(10)])
        paid = len(cache.entries)
        assert paid >= 4
        with client_for(server, cache) as client:
            results = client.chat_many([req(f"q{i}") for i in range(10)])
    assert all(r.ok for r in results) and sum(r.cached for r in results) == paid


def test_redact_removes_key_and_fragments() -> None:
    text = f"bad key {FAKE_KEY} or sk-test-...89abcdef"
    assert FAKE_KEY not in redact(text, FAKE_KEY)
    assert "89abcdef" not in redact(text, FAKE_KEY)


def test_slow_drip_reply_is_cut_at_the_total_deadline() -> None:
    """Headers at once, then one byte a second: no read ever waits past `timeout`, the request does."""
    with (
        LLMTestServer(faults=["slow_body"], drip_seconds=1.0) as server,
        client_for(server, timeout=2.0, max_retries=0) as client,
    ):
        started = time.monotonic()
        [result] = client.chat_many([req("drip")])
        elapsed = time.monotonic() - started
    assert result.error_kind == TIMEOUT and "total deadline" in result.error_detail
    assert elapsed < 4.0
    assert client.usage.snapshot()["http_outcomes"] == {TIMEOUT: 1}


def test_run_deadline_stops_sending_and_counts_timeouts() -> None:
    usage = Usage()
    with (
        LLMTestServer(latency=0.3) as server,
        client_for(server, usage=usage, max_concurrency=1, run_deadline=1.0) as client,
    ):
        results = client.chat_many([req(f"q{i}") for i in range(10)])
    late = [r for r in results if not r.ok]
    assert 1 <= sum(r.ok for r in results) <= 4 and late
    assert {r.error_kind for r in late} == {TIMEOUT} and server.requests < 10
    assert any("run deadline of 1 s reached; request not sent" in r.error_detail for r in late)


def test_budget_stop_reports_what_was_sent_and_what_came_back() -> None:
    """503 on every attempt, 5 attempts allowed: the five sent requests say they got a 503."""
    usage = Usage(spend_limit=SpendLimit(max_requests=5))
    faults = ["status_503"] * 20
    with (
        LLMTestServer(faults=faults) as server,
        client_for(server, usage=usage, max_concurrency=5, max_retries=4) as client,
    ):
        results = client.chat_many([req(f"q{i}") for i in range(11)])
    snap = usage.snapshot()
    assert server.requests == 5 and snap["http_outcomes"] == {"HTTP 503": 5}
    sent = [r for r in results if r.error_kind == SERVER_ERROR]
    assert len(sent) == 5 and all(
        "503" in r.error_detail and "retry not sent" in r.error_detail for r in sent
    )
    unsent = [r for r in results if r.error_kind == BUDGET]
    assert len(unsent) == 6 and all("request not sent" in r.error_detail for r in unsent)
    assert snap["budget_stopped"] and snap["failures_by_kind"] == {BUDGET: 6, SERVER_ERROR: 5}


def test_rejected_replies_are_not_cached_and_cached_rejects_are_asked_again() -> None:
    cache = MemoryCache()
    accept = lambda result: bool(result.text)  # noqa: E731
    with LLMTestServer(faults=["empty", "empty"]) as server, client_for(server, cache) as client:
        [first] = client.chat_many([req("q")], accept)
        assert first.ok and first.text == "" and not cache.entries
        [plain] = client.chat_many([req("q")])  # no verdict: cached as before
        assert plain.text == "" and len(cache.entries) == 1
        [healed] = client.chat_many([req("q")], accept)  # the cached empty reply is rejected: asked again
    assert healed.text == "reply: q" and not healed.cached and server.requests == 3
    assert next(iter(cache.entries.values())).text == "reply: q"
