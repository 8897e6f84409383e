"""MoDS end to end on 40 Alpaca rows in two shards: reward -> seed -> seed model -> necessity -> selection.

Real code paths, tiny models: a locally built random BERT reward model (the HF sequence-
classification path), the bundled MiniLM embedder, and a 2-layer random Llama with SmolLM2's
tokenizer and chat template as the base model (the bundled 135M model is the default config).
"""

from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow as pa
import pytest

from deita_assets.assets.mods import (
    mods_necessity,
    mods_necessity_valid,
    mods_seed,
    mods_seed_model,
    mods_seed_valid,
    mods_selection_valid,
)
from deita_assets.assets.reward import reward_scores, reward_scores_consistent
from deita_assets.assets.selection import selected_subset
from deita_assets.core import mods
from deita_assets.core.formats import normalize_record, row_id
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.reward import RewardResource
from deita_assets.resources.scorers import ScorersResource
from deita_assets.resources.store import DuckDBStore
from deita_assets.resources.trainer import TrainerResource
from deita_assets_tests.support.store_rows import add_rows
from deita_assets_tests.support.tiny_models import build_tiny_causal_lm, build_tiny_reward_model

SHARDS = ["s1", "s2"]


def load_pool(store: DuckDBStore, alpaca_records: list[dict], n: int = 40) -> None:
    records = alpaca_records[:n]
    rows = []
    for position, record in enumerate(records):
        turns = normalize_record(record).turns
        rows.append(
            {
                "shard": SHARDS[position % 2],
                "row_id": row_id(turns),
                "source": "alpaca",
                "source_file": "alpaca_5000.json",
                "position": position,
                "format": "alpaca",
                "turns": turns,
                "n_turns": len(turns),
                "n_chars": sum(len(t["content"]) for t in turns),
            }
        )
    add_rows(store, "pool", pa.Table.from_pylist(rows))


def checks_passed(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


@pytest.mark.slow
def test_mods_pipeline_end_to_end(store: DuckDBStore, alpaca_records: list[dict], tmp_path: Path) -> None:
    load_pool(store, alpaca_records)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("pool_shard", SHARDS)
    reward = RewardResource(
        store=store,
        scorers=ScorersResource(),
        model=str(build_tiny_reward_model(tmp_path / "rm", 128)),
        max_length=128,
    )
    resources = {"store": store, "reward": reward, "embedder": EmbedderResource()}
    for shard in SHARDS:
        result = dg.materialize(
            [reward_scores, reward_scores_consistent],
            partition_key=shard,
            resources=resources,
            instance=instance,
        )
        assert result.success and checks_passed(result) == {"reward_scores_consistent": True}
    with store.get_connection() as conn:  # one held-out evaluation row: never a MoDS candidate
        held_out = conn.execute("SELECT row_id FROM pool ORDER BY position LIMIT 1").fetchone()[0]
    add_rows(
        store,
        "eval_holdout",
        pa.table({"row_id": [held_out], "benchmark": ["pool_holdout"], "prompt": ["prompt"]}),
    )
    rewards = store.fetch_arrow("select_mods_rewarded_rows").to_pylist()
    assert (
        len(rewards) == 39
        and held_out not in {r["row_id"] for r in rewards}
        and all(r["status"] == "ok" and r["source_kind"] == "hf_sequence_classification" for r in rewards)
    )
    alpha = float(np.median([r["reward"] for r in rewards]))  # a random model: put half above alpha
    above_alpha = sum(1 for r in rewards if r["reward"] > alpha)  # 19 of 39 unless rewards tie
    assert 0 < above_alpha <= 19

    seed_config = {"ops": {"mods_seed": {"config": {"alpha": alpha, "k": 4}}}}
    result = dg.materialize(
        [mods_seed, mods_seed_valid], resources=resources, instance=instance, run_config=seed_config
    )
    assert result.success and checks_passed(result) == {"mods_seed_valid": True}
    seed_meta = result.asset_materializations_for_node("mods_seed")[0].metadata
    assert "|text=first_instruction|" in seed_meta["embedder"].value
    assert seed_meta["alpha_from"].value == "configured" and seed_meta["n_high_quality"].value == above_alpha
    seed = store.fetch_arrow("select_mods_seed").to_pylist()
    assert [s["pick_order"] for s in seed] == [0, 1, 2, 3]
    assert len({s["row_id"] for s in seed}) == 4 and all(s["reward"] > alpha for s in seed)

    resources["trainer"] = TrainerResource(base_model=str(build_tiny_causal_lm(tmp_path / "base")))
    train = {"ops": {"mods_seed_model": {"config": {"max_steps": 2, "batch_size": 2, "max_length": 256}}}}
    result = dg.materialize([mods_seed_model], resources=resources, instance=instance, run_config=train)
    assert result.success
    meta = result.asset_materializations_for_node("mods_seed_model")[0].metadata
    assert meta["steps"].value == 2 and meta["dagster/row_count"].value == 4
    assert Path(store.fetch_arrow("select_mods_seed_model").to_pylist()[0]["model_path"]).is_dir()

    necessity = {"max_instructions": 5, "max_new_tokens": 6, "batch_size": 5, "k": 3, "beta": 1e9}
    run_config = {"ops": {"mods_necessity": {"config": necessity}}}
    result = dg.materialize(
        [mods_necessity, mods_necessity_valid, mods_selection_valid],
        resources=resources,
        instance=instance,
        run_config=run_config,
    )
    assert result.success and checks_passed(result) == {
        "mods_necessity_valid": True,
        "mods_selection_valid": True,
    }
    with store.get_connection() as conn:
        rows = conn.execute("SELECT * FROM mods_necessity").to_arrow_table().to_pylist()
    answered = [r for r in rows if r["status"] != mods.DEMO_CAP]
    high_quality_non_seed = sum(r["reward"] > alpha for r in rewards) - 4
    assert len(rows) == high_quality_non_seed and len(answered) == 5
    assert all(
        r["necessary"] and np.isfinite(r["own_reward"]) and r["generated"] is not None for r in answered
    )
    assert sum(r["augmented"] for r in rows) == 3
    assert all(r["nearest_row_id"] for r in answered if not r["augmented"])

    selection = store.fetch_arrow("select_mods_selection").to_pylist()
    kept = [s["row_id"] for s in selection if s["kept"]]
    augmented = [r["row_id"] for r in sorted(rows, key=lambda r: r["pick_order"] or 0) if r["augmented"]]
    assert kept == [s["row_id"] for s in seed] + augmented
    assert len(selection) == 39 and len({s["row_id"] for s in selection} | {held_out}) == 40
    reasons = {s["reason"] for s in selection}
    assert {mods.SEED, mods.AUGMENTED, mods.BELOW_ALPHA, mods.NECESSARY_NOT_PICKED} <= reasons
    meta = result.asset_materializations_for_node("mods_necessity")[0].metadata
    assert meta["n_selected"].value == 7 and meta["demo_cap_max_instructions"].value == 5
    assert meta["prompts_truncated"].value == 0 and meta["n_answered"].value == 5

    # selected_subset[mods] copies mods_selection into `selection`, cut at the budget m = 5.
    result = dg.materialize(
        [selected_subset],
        partition_key="mods",
        instance=instance,
        resources={**resources, "llm": LLMResource(store=store)},
        run_config={"ops": {"selected_subset": {"config": {"budget": 5, "export": False}}}},
    )
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["budget_met_or_shortfall_stated"] and checks["deterministic_for_seed"]
    with store.get_connection() as conn:
        chosen = conn.execute(
            "SELECT row_id, kept, reason FROM selection WHERE strategy = 'mods' ORDER BY examined_order"
        ).fetchall()
    assert [r[0] for r in chosen] == [s["row_id"] for s in selection]
    assert [r[0] for r in chosen if r[1]] == kept[:5]
    assert [r[2] for r in chosen][5:7] == ["over_budget", "over_budget"]


def test_mods_job_is_one_heavy_run_of_the_chain() -> None:
    """The UI's one-click MoDS run queues behind other heavy (training) runs."""
    from deita_assets.definitions import defs

    job = defs.resolve_job_def("mods_seed_and_necessity")
    assert job.tags["deita/heavy"] == "true"
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert keys == {"mods_seed", "mods_seed_model", "mods_necessity"}
