"""LLMResource: DuckDB cache, env configuration, the local xllamacpp backend."""

import json

import dagster as dg
import pytest

from deita_assets.app.cli import main
from deita_assets.core.llm_client import ClientSettings
from deita_assets.core.llm_types import ChatRequest
from deita_assets.core.models import BUNDLED_LLM
from deita_assets.resources.llm import CLIENT_KNOBS, LLMResource, endpoint_label, llm_from_env
from deita_assets.resources.store import DuckDBStore
from deita_assets_tests.support.batch_test_server import BatchTestServer
from deita_assets_tests.support.llm_test_server import LLMTestServer

FAKE_KEY = "sk-test-FAKEKEY-0123456789abcdef"


def req(text: str, **kwargs) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": text},), template_version="t1", **kwargs)


def test_duckdb_cache_survives_sessions_and_records_backend(store: DuckDBStore) -> None:
    with LLMTestServer() as server:
        resource = LLMResource(
            store=store, base_url=server.base_url, model="m", api_key=FAKE_KEY, backend_label="test"
        )
        with resource.session() as session:
            first = session.chat_many([req("a"), req("b", top_logprobs=2)])
            meta = session.usage_metadata()
        with resource.session() as session:
            second = session.chat_many([req("a"), req("b", top_logprobs=2)])
            warm = session.usage_metadata()
    assert server.requests == 2
    assert [r.text for r in second] == [r.text for r in first] == ["reply: a", "reply: b"]
    assert meta["llm_completed"] == 2 and meta["llm_backend"] == "test" and meta["llm_model"] == "m"
    assert warm["llm_cache_hits"] == 2 and warm["llm_http_requests"] == 0
    with store.get_connection() as conn:
        rows = conn.execute("SELECT backend, model, template_version, request_json FROM llm_cache").fetchall()
    assert {(r[0], r[1], r[2]) for r in rows} == {("test", "m", "t1")}
    assert all(FAKE_KEY not in json.dumps(r) for r in rows)


def test_duckdb_cache_replaces_a_rejected_reply_when_asked_again(store: DuckDBStore) -> None:
    accept = lambda result: bool(result.text)  # noqa: E731
    with LLMTestServer(faults=["empty"]) as server:
        resource = LLMResource(store=store, base_url=server.base_url, model="m", backend_label="test")
        with resource.session() as session:
            assert session.chat_many([req("a")])[0].text == ""  # cached: no verdict given
        with resource.session() as session:
            healed = session.chat_many([req("a")], accept)[0]
            meta = session.usage_metadata()
    assert (
        healed.text == "reply: a"
        and server.requests == 2
        and meta["llm_http_outcomes"].md_str.count("| ok") == 1
    )
    with store.get_connection() as conn:
        assert conn.execute("SELECT response_text FROM llm_cache").fetchall() == [("reply: a",)]


def test_endpoint_label_drops_credentials_and_query() -> None:
    assert (
        endpoint_label("https://user:secret@api.example.com:8443/v1/?key=abc")
        == "https://api.example.com:8443/v1"
    )


def test_llm_from_env_binds_env_vars(store: DuckDBStore) -> None:
    resource = llm_from_env(
        {"DEITA_LLM_BASE_URL": "http://x/v1", "DEITA_LLM_API_KEY": "k", "DEITA_LLM_MAX_CONCURRENCY": "3"},
        store,
    )
    assert resource.base_url == dg.EnvVar("DEITA_LLM_BASE_URL")
    assert llm_from_env({}, store).base_url is None and llm_from_env({}, store).model == BUNDLED_LLM
    assert llm_from_env({"DEITA_LLM_STRUCTURED_OUTPUT": "false"}, store).structured_output is False
    assert llm_from_env({"DEITA_LLM_RUN_DEADLINE": "90"}, store).run_deadline == 90.0


@pytest.mark.slow
def test_local_backend_answers_with_json_schema(store: DuckDBStore) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer", "minimum": 1, "maximum": 6}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    resource = LLMResource(store=store, local_parallel=2, local_ctx_per_slot=1024)
    with resource.session() as session:
        text, structured = session.chat_many(
            [
                req("Say hello in three words.", max_tokens=16),
                req("Pick a number from 1 to 6.", max_tokens=48, json_schema=schema),
            ]
        )
    assert text.ok and text.text and text.backend == "xllamacpp" and text.model == BUNDLED_LLM
    assert structured.ok and 1 <= json.loads(structured.text)["answer"] <= 6


def test_batch_mode_resumes_a_persisted_batch_across_sessions(store: DuckDBStore) -> None:
    with BatchTestServer(polls_before_done=100) as server:
        resource = LLMResource(
            store=store,
            base_url=server.base_url,
            model="m",
            mode="batch",
            batch_poll_interval=0.01,
            batch_deadline=0.05,
        )
        with resource.session() as session:  # a run cut off while the batch is still running
            assert {r.error_kind for r in session.chat_many([req("a"), req("b")])} == {"timeout"}
        with store.get_connection() as conn:
            assert conn.execute("SELECT batch_id FROM llm_batches").fetchall() == [("batch-0",)]
        server.polls_before_done = 0
        with resource.session() as session:
            assert [r.text for r in session.chat_many([req("a"), req("b")])] == ["reply: a", "reply: b"]
        online = LLMResource(
            store=store, base_url=server.base_url, model="m"
        )  # same backend label: same keys
        with online.session() as session:
            assert all(r.cached for r in session.chat_many([req("a"), req("b")]))
    assert server.calls["create"] == 1
    with store.get_connection() as conn:
        assert conn.execute("SELECT count(*) FROM llm_batches").fetchone() == (0,)


def test_export_mode_writes_jsonl_and_llm_import_fills_the_cache(store: DuckDBStore, tmp_path) -> None:
    export = LLMResource(
        store=store, model="m", backend_label="vllm", mode="export", batch_export_dir=str(tmp_path)
    )
    with export.session() as session:
        results = session.chat_many([req("a")])
    assert results[0].error_kind == "batch_exported"
    (requests_path,) = tmp_path.glob("requests-*[0-9a-f].jsonl")
    line = json.loads(requests_path.read_text())
    assert line["body"]["messages"] == [{"role": "user", "content": "a"}]
    body = {"choices": [{"message": {"content": "offline"}, "finish_reason": "stop"}]}
    output = {"id": "x", "custom_id": line["custom_id"], "response": {"status_code": 200, "body": body}}
    (tmp_path / "results.jsonl").write_text(json.dumps(output) + "\n")
    assert main(["llm-import", str(requests_path), str(tmp_path / "results.jsonl")]) == 0
    with export.session() as session:
        again = session.chat_many([req("a")])
    assert again[0].cached and again[0].text == "offline"


def test_llm_from_env_reads_batch_settings(store: DuckDBStore) -> None:
    resource = llm_from_env({"DEITA_LLM_MODE": "batch", "DEITA_LLM_BATCH_POLL_INTERVAL": "5"}, store)
    assert resource.mode == "batch" and resource.batch_poll_interval == 5.0
    assert resource.batch_price_factor == 0.5 and llm_from_env({}, store).mode == "online"


def test_every_knob_is_declared_once(store: DuckDBStore) -> None:
    """Each field is set by DEITA_LLM_<FIELD>; the client knobs' defaults are ClientSettings'."""
    documented = {
        "DEITA_LLM_MAX_RETRIES": ("max_retries", 2),
        "DEITA_LLM_TIMEOUT": ("timeout", 7.5),
        "DEITA_LLM_MAX_TOTAL_TOKENS": ("max_total_tokens", 100),
        "DEITA_LLM_BATCH_EXPORT_DIR": ("batch_export_dir", "/tmp/x"),
        "DEITA_LLM_MAX_TOKENS_PARAM": ("max_tokens_param", "max_completion_tokens"),
    }
    environ = {var: str(value) for var, (_name, value) in documented.items()}
    resource = llm_from_env(environ, store)
    for var, (name, value) in documented.items():
        bound = getattr(resource, name)
        assert bound == value or bound in (dg.EnvVar(var), dg.EnvVar.int(var)), name
    defaults = ClientSettings(base_url="", model="", backend="")
    for name in CLIENT_KNOBS:
        if name not in ("base_url", "model", "api_key"):  # the endpoint itself: no client default
            assert getattr(LLMResource(store=store), name) == getattr(defaults, name), name
