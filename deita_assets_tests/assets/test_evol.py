"""evol_seed → evolved_variants → ranked_scores against the loopback test server (and, slow, the
real local llama.cpp backend): results, faults, repair, warm cache, no API key anywhere."""

import itertools
import json
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from deita_assets.assets.evol import evol_seed, evolved_variants, evolved_variants_complete
from deita_assets.assets.rank import ranked_scores, ranked_scores_valid
from deita_assets.core.models import BUNDLED_LLM
from deita_assets.core.prompts import OPS
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.store import DuckDBStore
from deita_assets_tests.support.batch_test_server import BatchTestServer
from deita_assets_tests.support.evol_fakes import evol_responder
from deita_assets_tests.support.llm_test_server import LLMTestServer
from deita_assets_tests.support.store_rows import add_rows

FAKE_KEY = "sk-DEITA-FAKE-KEY-7f3a9c2e51b04d88"
ASSETS = [evol_seed, evolved_variants, ranked_scores, evolved_variants_complete, ranked_scores_valid]


def pool_rows(n_per_source: int = 4) -> pa.Table:
    rows = []
    for source in ("alpaca", "dolly"):
        for i in range(n_per_source):
            turns = [
                {"role": "user", "content": f"Explain topic {i} from {source} in simple words."},
                {"role": "assistant", "content": f"Topic {i} is about {source} things and ideas."},
            ]
            rows.append(_pool_row(f"{source}-{i}", source, turns))
    multi = [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello"}] * 2
    rows.append(_pool_row("multi-0", "sharegpt", multi))
    return pa.Table.from_pylist(rows)


def _pool_row(row_id: str, source: str, turns: list[dict]) -> dict:
    return {
        "shard": "s1",
        "row_id": row_id,
        "source": source,
        "source_file": f"{source}.jsonl",
        "position": 0,
        "format": "test",
        "turns": turns,
        "n_turns": len(turns),
        "n_chars": sum(len(t["content"]) for t in turns),
    }


@pytest.fixture
def pool_store(store: DuckDBStore) -> DuckDBStore:
    add_rows(store, "pool", pool_rows())
    return store


def run(store, llm, dimension, instance, seed_size=4, checks_config=None) -> dg.ExecuteInProcessResult:
    config = {"ops": {"evol_seed": {"config": {"size": seed_size}}}}
    results = []
    for selection in (["evol_seed"], ["evolved_variants", "ranked_scores"]):
        results.append(
            dg.materialize(
                ASSETS,
                selection=selection,
                partition_key=None if selection == ["evol_seed"] else dimension,
                resources={"store": store, "llm": llm},
                run_config=config if selection == ["evol_seed"] else (checks_config or {}),
                instance=instance,
                raise_on_error=True,
            )
        )
    return results[-1]


def fetch(store: DuckDBStore, sql: str) -> list[dict]:
    with store.get_connection() as conn:
        return conn.execute(sql).to_arrow_table().to_pylist()


@pytest.mark.parametrize(("dimension", "structured"), [("complexity", True), ("quality", False)])
def test_evol_and_rank_end_to_end_then_warm_cache(
    pool_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dimension: str, structured: bool
) -> None:
    monkeypatch.setenv("DEITA_LLM_API_KEY", FAKE_KEY)
    (tmp_path / "dg").mkdir()
    with (
        LLMTestServer(evol_responder) as server,
        dg.instance_for_test(temp_dir=str(tmp_path / "dg")) as instance,
    ):
        llm = LLMResource(
            store=pool_store,
            base_url=server.base_url,
            model="fake",
            api_key=dg.EnvVar("DEITA_LLM_API_KEY"),
            structured_output=structured,
        )
        result = run(pool_store, llm, dimension, instance)
        cold = server.requests
        assert cold == 4 * 5 + 4  # 5 rounds × 4 seeds + one rank request per seed
        seeds = fetch(pool_store, "SELECT * FROM evol_seed ORDER BY seed_id")
        assert len(seeds) == 4 and {s["source"] for s in seeds} == {"alpaca", "dolly"}
        variants = fetch(pool_store, "SELECT * FROM evolved_variants ORDER BY seed_id, round")
        assert len(variants) == 24 and all(v["status"] == "ok" for v in variants)
        assert {v["backend"] for v in variants if v["round"]} == {server.base_url.removesuffix("/")}
        assert all(v["op"] in OPS[dimension] for v in variants[1:6])
        evolving = "instruction" if dimension == "complexity" else "response"
        assert all(len(b[evolving]) > len(a[evolving]) for a, b in itertools.pairwise(variants[:6]))
        if dimension == "quality":  # the instruction stays fixed while the response evolves
            assert len({v["instruction"] for v in variants[:6]}) == 1
        scores = fetch(pool_store, "SELECT * FROM ranked_scores ORDER BY seed_id, round")
        assert [s["score"] for s in scores[:6]] == [1, 2, 3, 4, 5, 6]  # longer = higher, mapped back
        assert all(s["parse_status"] == "ok" for s in scores)
        meta = result.asset_materializations_for_node("ranked_scores")[0].metadata
        assert meta["spearman_round_vs_score"].value == pytest.approx(1.0)
        assert meta["llm_completed"].value == 4 and meta["llm_backend"].value.startswith("http://127.0.0.1")
        assert all(c.passed for c in result.get_asset_check_evaluations())

        again = run(pool_store, llm, dimension, instance)
        assert server.requests == cold  # warm cache: 0 HTTP requests
        warm = again.asset_materializations_for_node("evolved_variants")[0].metadata
        assert warm["llm_cache_hits"].value == 20 and warm["llm_http_requests"].value == 0
        assert fetch(pool_store, "SELECT * FROM ranked_scores ORDER BY seed_id, round") == scores

    assert server.authorizations == {f"Bearer {FAKE_KEY}"}  # the key was used …
    assert_key_absent(pool_store, tmp_path / "dg")  # … and is stored nowhere


def assert_key_absent(store: DuckDBStore, dagster_dir: Path) -> None:
    fragments = (FAKE_KEY, FAKE_KEY[:12], FAKE_KEY[-12:])
    with store.get_connection() as conn:
        tables = [t for (t,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        for table in tables:
            dump = json.dumps(
                conn.execute(f'SELECT * FROM "{table}"').to_arrow_table().to_pylist(), default=str
            )
            assert not any(f in dump for f in fragments), table
    files = [p for folder in (dagster_dir, store.path) for p in folder.rglob("*") if p.is_file()]
    assert len(files) > 1
    for path in files:
        data = path.read_bytes()
        assert not any(f.encode() in data for f in fragments), path


def faulty_responder(body: dict) -> str:
    """Per seed misbehaviour: garbage rank reply once (repaired), always (recorded), cut short once,
    and an evolution that returns its input unchanged (flagged degenerate)."""
    prompt = body["messages"][-1]["content"]
    first_turn = len(body["messages"]) == 1
    is_rank = "Score" in prompt or "scores" in prompt
    if "topic 3 from alpaca" in prompt and not is_rank:
        return evol_responder(body).removesuffix(" Also cover one more aspect in detail.")
    if is_rank and "topic 2 from dolly" in prompt and first_turn:
        return "They all look lovely to me!"
    if is_rank and "topic 3 from dolly" in json.dumps(body["messages"]):
        return "I would rather not rank these."
    if is_rank and "topic 0 from dolly" in prompt and first_turn:
        return evol_responder(body).split("\n")[0]  # one line only: items missing
    return evol_responder(body)


def test_faults_are_recorded_never_invented(pool_store, tmp_path: Path) -> None:
    strict = {"ops": {"ranked_scores_ranked_scores_valid": {"config": {"max_failure_rate": 0.1}}}}
    faults = {"topic 1 from alpaca": ["500"] * 10}  # its round-1 evolution fails for good
    with (
        LLMTestServer(faulty_responder, faults_for=faults) as server,
        dg.instance_for_test() as instance,
    ):
        llm = LLMResource(
            store=pool_store,
            base_url=server.base_url,
            model="fake",
            max_retries=1,
            backoff_base=0.01,
            backoff_cap=0.02,
            structured_output=False,
        )
        result = run(pool_store, llm, "complexity", instance, seed_size=8, checks_config=strict)
    variants = {
        (v["row_id"], v["round"]): v
        for v in fetch(
            pool_store,
            "SELECT s.row_id, v.* FROM evolved_variants v JOIN evol_seed s USING (seed_id)",
        )
    }
    failed = variants[("alpaca-1", 1)]
    assert failed["status"] == "failed" and failed["reason"].startswith("server_error")
    assert failed["instruction"] == ""
    assert all(variants[("alpaca-1", r)]["status"] == "skipped" for r in range(2, 6))
    assert (
        variants[("alpaca-3", 2)]["status"] == "degenerate"
        and "unchanged" in variants[("alpaca-3", 2)]["flags"]
    )

    ranked = {}
    for r in fetch(pool_store, "SELECT s.row_id, r.* FROM ranked_scores r JOIN evol_seed s USING (seed_id)"):
        ranked.setdefault(r["row_id"], []).append(r)
    status = {row_id: {r["parse_status"] for r in rows} for row_id, rows in ranked.items()}
    assert status["alpaca-1"] == {"skipped"} and status["alpaca-3"] == {"ok"}
    assert status["dolly-2"] == {"repaired"} and status["dolly-0"] == {"repaired"}
    assert status["dolly-3"] == {"parse_failed"}
    lost = ranked["dolly-3"][0]
    assert "rather not rank" in lost["raw_reply"] and 'no "[k] Score: x" lines' in lost["reason"]
    assert all(r["score"] is None for row_id in ("alpaca-1", "dolly-3") for r in ranked[row_id])
    assert all(r["score"] is not None for row_id in ("dolly-0", "dolly-2") for r in ranked[row_id])
    assert all(r["reason"] for rows in ranked.values() for r in rows if r["score"] is None)

    meta = result.asset_materializations_for_node("ranked_scores")[0].metadata
    assert meta["failed_seeds"].value == 2 and meta["llm_completed"].value == 7 + 3  # 7 seeds + 3 repairs
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["ranked_scores_valid"].passed  # 2/8 seeds unscored > 0.1
    assert checks["ranked_scores_valid"].metadata["seed_failure_rate"].value == pytest.approx(0.25)


def bad_spell_responder(spell: dict):
    """While `spell["bad"]`: seed alpaca-1's rewrites come back empty and dolly-2's rank reply lacks
    scores (also after repair). Seed alpaca-3's rewrite is always a refusal."""

    def respond(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        is_rank = "Score" in prompt or "scores" in prompt
        if not is_rank and "topic 3 from alpaca" in prompt:
            return "I'm sorry, but I can't help with that."
        if spell["bad"] and not is_rank and "topic 1 from alpaca" in prompt:
            return ""
        if spell["bad"] and is_rank and "topic 2 from dolly" in json.dumps(body["messages"]):
            return evol_responder(body).split("\n")[0]  # one score for six items
        return evol_responder(body)

    return respond


def test_rerun_after_a_bad_spell_heals_and_refusals_are_never_ranked(pool_store) -> None:
    spell = {"bad": True}
    with LLMTestServer(bad_spell_responder(spell)) as server, dg.instance_for_test() as instance:
        llm = LLMResource(
            store=pool_store, base_url=server.base_url, model="fake", max_retries=0, structured_output=False
        )
        run(pool_store, llm, "complexity", instance, seed_size=8)
        before = _by_row(pool_store)
        spell["bad"] = False
        run(pool_store, llm, "complexity", instance, seed_size=8)
        after = _by_row(pool_store)
    assert before["alpaca-1"][1]["reason"] == "the model returned an empty rewrite"
    assert before["dolly-2"][0]["parse_status"] == "parse_failed"
    assert after["alpaca-1"][1]["status"] == "ok" and after["alpaca-1"][0]["parse_status"] == "ok"
    assert after["dolly-2"][0]["parse_status"] == "ok" and all(r["score"] for r in after["dolly-2"])
    refused = after["alpaca-3"]
    assert refused[1]["status"] == "degenerate" and "refusal" in refused[1]["flags"]
    assert refused[1]["reason"] == "refusal (rule sorry_cannot)"
    assert all(refused[r]["status"] == "skipped" for r in range(2, 6))
    assert {r["parse_status"] for r in refused} == {"skipped"} and all(r["score"] is None for r in refused)
    assert "round 1 refusal" in refused[0]["rank_reason"]


def test_a_dripping_reply_is_cut_at_the_deadline_inside_evolved_variants(pool_store) -> None:
    faults = {"topic 0 from dolly": ["slow_body"]}
    with (
        LLMTestServer(evol_responder, faults_for=faults, drip_seconds=1.0) as server,
        dg.instance_for_test() as instance,
    ):
        llm = LLMResource(
            store=pool_store, base_url=server.base_url, model="fake", timeout=2.0, max_retries=0
        )
        result = run(pool_store, llm, "complexity", instance, seed_size=8)
    cut = _by_row(pool_store)["dolly-0"][1]
    assert cut["status"] == "failed" and cut["reason"].startswith("timeout: TimeoutError: no complete reply")
    meta = result.asset_materializations_for_node("evolved_variants")[0].metadata
    assert "| timeout | 1 |" in meta["llm_http_outcomes"].md_str


def _by_row(store: DuckDBStore) -> dict[str, list[dict]]:
    """Per seed row id, its rounds in order: variant columns plus score, parse_status, rank_reason."""
    rows = fetch(
        store,
        "SELECT s.row_id, v.round, v.status, v.flags, v.reason, r.score, r.parse_status, "
        "r.reason AS rank_reason FROM evolved_variants v JOIN evol_seed s USING (seed_id) "
        "LEFT JOIN ranked_scores r USING (dimension, seed_id, round) ORDER BY s.row_id, v.round",
    )
    by_row: dict[str, list[dict]] = {}
    for row in rows:
        by_row.setdefault(row["row_id"], []).append(row)
    return by_row


@pytest.mark.slow
def test_real_local_backend_end_to_end(pool_store) -> None:
    """A few seeds through the bundled SmolLM2-135M on xllamacpp: real generation, grammar-constrained
    ranking; whatever the small model does is recorded (scores or reasons), and a rerun is free."""
    llm = LLMResource(store=pool_store, local_parallel=2, local_ctx_per_slot=2048)
    config = {"ops": {"evolved_variants": {"config": {"max_tokens_cap": 64}}}}
    with dg.instance_for_test() as instance:
        first = run(pool_store, llm, "complexity", instance, seed_size=2, checks_config=config)
        again = run(pool_store, llm, "complexity", instance, seed_size=2, checks_config=config)
    variants = fetch(pool_store, "SELECT * FROM evolved_variants ORDER BY seed_id, round")
    assert len(variants) == 12
    assert {(v["backend"], v["model"]) for v in variants if v["round"]} == {("xllamacpp", BUNDLED_LLM)}
    assert all(v["status"] == "ok" or v["reason"] for v in variants)
    assert sum(v["status"] in ("ok", "degenerate") for v in variants if v["round"]) >= 5
    ranked = fetch(pool_store, "SELECT * FROM ranked_scores ORDER BY seed_id, round")
    assert len(ranked) == 12 and all(r["score"] is not None or r["reason"] for r in ranked)
    assert all(1 <= r["score"] <= 6 for r in ranked if r["score"] is not None)
    meta = first.asset_materializations_for_node("ranked_scores")[0].metadata
    assert meta["llm_backend"].value == "xllamacpp" and meta["llm_completion_tokens"].value > 0
    warm = again.asset_materializations_for_node("ranked_scores")[0].metadata
    assert warm["llm_http_requests"].value == 0 and warm["llm_cache_hits"].value >= 2


def test_evol_and_rank_in_batch_mode_then_warm_cache(pool_store, tmp_path: Path) -> None:
    with BatchTestServer(evol_responder, polls_before_done=1) as server, dg.instance_for_test() as instance:
        llm = LLMResource(
            store=pool_store, base_url=server.base_url, model="fake", mode="batch", batch_poll_interval=0.01
        )
        result = run(pool_store, llm, "complexity", instance)
        assert server.calls["create"] == 5 + 1  # one batch per evolution round, one for ranking
        variants = fetch(pool_store, "SELECT status FROM evolved_variants")
        assert len(variants) == 24 and all(v["status"] == "ok" for v in variants)
        scores = fetch(pool_store, "SELECT score FROM ranked_scores ORDER BY seed_id, round")
        assert [s["score"] for s in scores[:6]] == [1, 2, 3, 4, 5, 6]
        meta = result.asset_materializations_for_node("ranked_scores")[0].metadata
        assert meta["llm_completed"].value == 4
        run(pool_store, llm, "complexity", instance)
        assert server.calls["create"] == 6  # warm cache: nothing submitted
