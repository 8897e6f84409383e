"""scorer_model and pool_scores materialized with real resources on a temp DEITA_HOME.

The base model is a tiny Llama + byte-level BPE tokenizer saved to a local directory (the "any local
path" code path, seconds to train); the embedder is the bundled all-MiniLM-L6-v2. The LLM scores are
synthetic but shaped like ranked_scores: 6 rounds per seed, some unparsed, one failed variant.
"""

from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow as pa
import pytest

from deita_assets.assets.pool_scores import pool_scores
from deita_assets.assets.scorers import scorer_model
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.scorers import ScorersResource
from deita_assets.resources.store import DuckDBStore
from deita_assets_tests.support.scorer_fixtures import byte_bpe_tokenizer, tiny_llama
from deita_assets_tests.support.store_rows import add_rows

TOPICS = ["sorting", "poems", "taxes", "cells", "rivers", "engines", "chess", "bread", "stars", "music"]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny_base")
    tokenizer = byte_bpe_tokenizer()
    tiny_llama(len(tokenizer)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _variant_rows() -> tuple[list[dict], list[dict]]:
    variants, scores = [], []
    for dim in ("complexity", "quality"):
        for seed, topic in enumerate(TOPICS):
            for rnd in range(6):
                extra = " and explain every step with constraints" * rnd
                variants.append(
                    {
                        "dimension": dim,
                        "seed_id": seed,
                        "round": rnd,
                        "instruction": f"Tell me about {topic}{extra if dim == 'complexity' else ''}.",
                        "response": f"{topic.title()} are interesting.{' More detail here.' * rnd}",
                        "op": None if rnd == 0 else "deepen",
                        "status": "failed" if (seed, rnd) == (3, 5) else "ok",
                    }
                )
                parsed = (seed + rnd) % 7 != 0
                scores.append(
                    {
                        "dimension": dim,
                        "seed_id": seed,
                        "round": rnd,
                        "score": float(min(6, rnd + 1)) if parsed else None,
                        "parse_status": "ok" if parsed else "unparsed",
                    }
                )
    return variants, scores


def _pool_rows(shard: str) -> list[dict]:
    def turns(*pairs: str) -> list[dict]:
        return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(pairs)]

    conversations = [
        ("alpaca", turns("Sort a list of numbers in Python.", "Use sorted(numbers).")),
        ("alpaca", turns("Name a color.", "Blue.")),
        ("sharegpt", turns("Plan a trip to Rome.", "Day 1: Colosseum.", "And day 2?", "Vatican museums.")),
        ("lima", turns("Explain entropy with an example and a derivation.", "Entropy measures ...")),
        ("broken", [{"role": "user", "content": "a question nobody answered"}]),
        ("broken", turns("   ", "an answer to an empty instruction")),
    ]
    return [
        {
            "shard": shard,
            "row_id": f"{shard}-{i}",
            "source": source,
            "source_file": f"{source}.json",
            "position": i,
            "format": "test",
            "turns": t,
            "n_turns": len(t),
            "n_chars": sum(len(x["content"]) for x in t),
        }
        for i, (source, t) in enumerate(conversations)
    ]


def _seed_store(store: DuckDBStore, shard: str) -> None:
    variants, scores = _variant_rows()
    add_rows(store, "evolved_variants", pa.Table.from_pylist(variants))
    add_rows(store, "ranked_scores", pa.Table.from_pylist(scores))
    add_rows(store, "pool", pa.Table.from_pylist(_pool_rows(shard)))


def _resources(store: DuckDBStore, **scorer_config) -> dict:
    return {
        "store": store,
        "scorers": ScorersResource(max_length=256, batch_size=8, **scorer_config),
        "embedder": EmbedderResource(),
        "llm": LLMResource(store=store),
    }


TRAIN_CONFIG = {"max_steps": 4, "batch_size": 8, "learning_rate": 1e-3, "max_length": 256}


@pytest.mark.slow
def test_scorer_model_then_pool_scores(store: DuckDBStore, deita_home: Path, tiny_base: Path) -> None:
    shard = "shard-a"
    _seed_store(store, shard)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("pool_shard", [shard])
    resources = _resources(store, base_model=str(tiny_base))
    for dim in ("complexity", "quality"):
        result = dg.materialize(
            [scorer_model],
            partition_key=dim,
            resources=resources,
            instance=instance,
            run_config={"ops": {"scorer_model": {"config": TRAIN_CONFIG}}},
        )
        assert result.success
        meta = result.asset_materializations_for_node("scorer_model")[0].metadata
        assert meta["n_train"].value + meta["n_dev"].value == 10 * 6 - 8 - 1  # 8 unparsed, 1 failed
        assert "| lm |" in meta["dev_metrics"].value and "| embedding_head |" in meta["dev_metrics"].value
        assert "no LLM score (unparsed)" in meta["excluded_variants"].value
        assert "| step | loss | lr |" in meta["loss_curve"].value
        check = result.get_asset_check_evaluations()[0]
        assert check.check_name == "dev_spearman_floor" and check.severity == dg.AssetCheckSeverity.WARN
    assert (deita_home / "artifacts/scorers/quality/lm/model.safetensors").is_file()
    assert (deita_home / "artifacts/scorers/quality/embedding_head/weights.npy").is_file()
    evals = store.fetch_arrow("select_scorer_eval").to_pylist()
    assert sorted((r["dimension"], r["scorer_kind"]) for r in evals) == [
        ("complexity", "embedding_head"),
        ("complexity", "lm"),
        ("quality", "embedding_head"),
        ("quality", "lm"),
    ]
    assert all(r["rows_per_second"] > 0 and r["model_hash"] for r in evals)

    def run_pool(**config):
        result = dg.materialize(
            [pool_scores],
            partition_key=shard,
            resources=_resources(store, ifd_model=str(tiny_base), **config),
            instance=instance,
        )
        assert result.success
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks == {"every_row_scored_or_failed": True, "scores_in_range": True}
        return result.asset_materializations_for_node("pool_scores")[0].metadata

    meta = run_pool(pool_kind="lm")
    assert meta["recomputed"].value is True and meta["failed"].value == 2
    with store.get_connection() as conn:
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT row_id, status, failure_reason, complexity, quality, evol_score, scorer_kind "
                "FROM pool_scores WHERE shard = ?",
                [shard],
            ).fetchall()
        }
    assert len(rows) == 6
    status, _, c, q, score, kind = rows[f"{shard}-2"]  # two turns
    assert status == "ok" and kind == "lm" and len(c) == len(q) == 2
    assert score == pytest.approx(c[0] * q[0] + c[1] * q[1])
    assert all(1 <= v <= 6 for v in c + q)
    assert rows[f"{shard}-4"][:2] == ("failed", "no (user, assistant) turn pair to score")
    assert rows[f"{shard}-5"][:2] == ("failed", "empty instruction in a turn")
    assert rows[f"{shard}-5"][4] is None
    assert "**alpaca**" in meta["score_by_source"].value
    with store.get_connection() as conn:
        ifd = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT row_id, ifd, ifd_turns, ifd_status, ifd_reason FROM pool_scores WHERE shard = ?",
                [shard],
            ).fetchall()
        }
    value, turns, ifd_status, _ = ifd[f"{shard}-2"]
    assert len(turns) == 2 and value == pytest.approx(np.mean(turns)) and value > 0
    assert ifd_status == ("ok" if value < 1 else "at_least_one")
    assert ifd[f"{shard}-4"][2:] == ("failed", "no (user, assistant) turn pair")
    assert meta["ifd_rows_per_second"].value > 0 and "ifd_status" in meta

    again = run_pool(pool_kind="lm")  # nothing changed: kept, no model loaded
    assert again["recomputed"].value is False
    head = run_pool(pool_kind="embedding_head", aggregate="mean")  # scorer changed: recomputed
    assert head["recomputed"].value is True and head["scorer_kind"].value == "embedding_head"
    with store.get_connection() as conn:
        c, q, score = conn.execute(
            "SELECT complexity, quality, evol_score FROM pool_scores WHERE row_id = ?", [f"{shard}-2"]
        ).fetchone()
    assert score == pytest.approx(np.mean([c[0] * q[0], c[1] * q[1]]))


@pytest.mark.slow
def test_pretrained_local_scorer_skips_training(store: DuckDBStore, tiny_base: Path) -> None:
    _seed_store(store, "s")
    result = dg.materialize(
        [scorer_model],
        partition_key="complexity",
        resources=_resources(store, pretrained_complexity=str(tiny_base)),
        run_config={"ops": {"scorer_model": {"config": {"train_embedding_head": False}}}},
    )
    assert result.success
    meta = result.asset_materializations_for_node("scorer_model")[0].metadata
    assert meta["trained"].value is False and meta["model_path"].value == str(tiny_base)
    (row,) = store.fetch_arrow("select_scorer_eval").to_pylist()
    assert row["scorer_kind"] == "pretrained" and row["model_path"] == str(tiny_base)


def test_scorer_model_fails_loudly_without_llm_scores(store: DuckDBStore) -> None:
    with pytest.raises(dg.Failure, match="need at least two seeds"):
        dg.materialize([scorer_model], partition_key="quality", resources=_resources(store))
