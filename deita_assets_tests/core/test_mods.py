"""MoDS selection logic: thresholds, demo sampling and the explanation of every rewarded row."""

import math

import numpy as np
import pytest

from deita_assets.core import mods
from deita_assets.core.kcenter import KCenterResult
from deita_assets.core.mods import Rewarded


def test_quality_filter_is_strict_and_never_passes_failures() -> None:
    assert mods.is_high_quality(0.5, "ok", 0.0)
    assert not mods.is_high_quality(0.0, "ok", 0.0)
    assert not mods.is_high_quality(9.0, "failed", 0.0)
    assert not mods.is_high_quality(math.nan, "ok", 0.0)
    assert not mods.is_high_quality(None, "ok", 0.0)


def test_necessity_is_own_reward_below_beta() -> None:
    assert mods.necessity_status(-0.1, 0.0) == mods.NECESSARY_NOT_PICKED
    assert mods.necessity_status(0.0, 0.0) == mods.NOT_NECESSARY
    assert mods.necessity_status(math.nan, 0.0) == mods.OWN_ANSWER_UNSCORED


def test_alpha_is_configured_or_paper_value_or_a_quantile() -> None:
    rewards = [1.0, 2.0, 3.0, 4.0, float("nan"), None]
    assert mods.choose_alpha("hf_sequence_classification", None, rewards, 0.5) == (
        0.0,
        "MoDS value for hf_sequence_classification",
    )
    assert mods.choose_alpha("deita_quality_scorer", None, rewards, 0.5) == (2.5, "quantile 0.5 of rewards")
    assert mods.choose_alpha("deita_quality_scorer", 4.2, rewards, 0.5) == (4.2, "configured")
    with pytest.raises(ValueError):
        mods.choose_alpha("deita_quality_scorer", None, [float("nan")], 0.5)


def test_beta_is_configured_or_paper_value_or_alpha() -> None:
    assert mods.choose_beta("hf_sequence_classification", None, 3.0) == (
        0.0,
        "MoDS value for hf_sequence_classification",
    )
    assert mods.choose_beta("deita_quality_scorer", None, 3.0) == (3.0, "equal to alpha")
    assert mods.choose_beta("deita_quality_scorer", -1.0, 3.0) == (-1.0, "configured")


def test_first_instruction_is_the_first_answered_user_turn() -> None:
    turns = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]
    assert mods.first_instruction(turns) == "q1"
    assert mods.first_instruction([{"role": "user", "content": "q"}]) is None


def test_demo_order_is_a_reproducible_permutation() -> None:
    ids = [f"r{i}" for i in range(50)]
    order = mods.demo_order(ids, seed=1)
    assert sorted(order) == list(range(50))
    assert order == mods.demo_order(ids, seed=1)
    assert order != mods.demo_order(ids, seed=2)
    assert order != list(range(50))


def test_explain_selection_keeps_seed_then_augmented_and_explains_the_rest() -> None:
    rewarded = [
        Rewarded("low", -1.0, "ok"),
        Rewarded("fail", None, "failed"),
        Rewarded("s1", 2.0, "ok"),
        Rewarded("s2", 1.0, "ok"),
        Rewarded("aug", 0.5, "ok"),
        Rewarded("fine", 3.0, "ok"),
        Rewarded("nec", 0.7, "ok"),
        Rewarded("cap", 0.9, "ok"),
        Rewarded("lost", 0.8, "ok"),
    ]
    necessity = {
        "aug": mods.AUGMENTED,
        "fine": mods.NOT_NECESSARY,
        "nec": mods.NECESSARY_NOT_PICKED,
        "cap": mods.DEMO_CAP,
    }
    rows = mods.explain_selection(rewarded, 0.0, ["s2", "s1"], necessity, ["aug"], {"nec": ("aug", 0.93)})
    assert [r["row_id"] for r in rows] == ["s2", "s1", "aug", "fine", "cap", "lost", "nec", "low", "fail"]
    assert [r["examined_order"] for r in rows] == list(range(9))
    by_id = {r["row_id"]: r for r in rows}
    assert [r["row_id"] for r in rows if r["kept"]] == ["s2", "s1", "aug"]
    assert by_id["s1"]["reason"] == mods.SEED and by_id["aug"]["reason"] == mods.AUGMENTED
    assert by_id["fine"]["reason"] == mods.NOT_NECESSARY
    assert by_id["cap"]["reason"] == mods.DEMO_CAP
    assert by_id["lost"]["reason"] == mods.MISSING_FROM_NECESSITY
    assert by_id["low"]["reason"] == mods.BELOW_ALPHA
    assert by_id["fail"]["reason"] == mods.REWARD_FAILED and by_id["fail"]["score"] is None
    assert (by_id["nec"]["nearest_row_id"], by_id["nec"]["nearest_sim"]) == ("aug", 0.93)


def test_explain_selection_rejects_overlapping_sets() -> None:
    with pytest.raises(ValueError, match="overlap"):
        mods.explain_selection([Rewarded("a", 1.0, "ok")], 0.0, ["a"], {}, ["a"])


def kcenter_run(order, pick_distance, min_distance, nearest_center) -> KCenterResult:
    return KCenterResult(
        order=np.array(order, dtype=np.int64),
        pick_distance=np.array(pick_distance, dtype=np.float32),
        min_distance=np.array(min_distance, dtype=np.float32),
        nearest_center=np.array(nearest_center, dtype=np.int64),
        exhausted=False,
    )


def test_seed_picks_follow_pick_order_and_store_no_infinite_distance() -> None:
    high = [{"row_id": f"r{i}", "shard": "s0", "reward": float(i)} for i in range(3)]
    run = kcenter_run([2, 0], [np.inf, 0.25], [0.0, 0.1, 0.0], [1, 0, 0])
    picks = mods.seed_picks(high, ["i0", "i1", "i2"], run, alpha=0.5, k_requested=2)
    found = [(p["row_id"], p["pick_order"], p["instruction"]) for p in picks]
    assert found == [("r2", 0, "i2"), ("r0", 1, "i0")]
    assert picks[0]["pick_distance"] is None and picks[1]["pick_distance"] == 0.25
    assert all(p["alpha"] == 0.5 and p["k_requested"] == 2 for p in picks)


def test_necessity_rows_mark_augmented_and_name_the_nearest_center_of_the_rest() -> None:
    examined = [{"row_id": f"r{i}", "shard": "s0", "reward": 1.0} for i in range(4)]
    needed = mods.NECESSARY_NOT_PICKED
    statuses = [mods.NOT_NECESSARY, needed, mods.OWN_ANSWER_UNSCORED, needed]
    necessary = [1, 3]  # examined rows 1 and 3; the walk picks only the first of them
    run = kcenter_run([0], [np.inf], [0.0, 0.4], [0, 0])
    own = np.array([2.0, -1.0, np.nan, -2.0])
    table, nearest = mods.necessity_rows(
        examined, ["i0", "i1", "i2", "i3"], ["a0", "a1", "a2", "a3"], own, statuses, necessary, run
    )
    assert [t["status"] for t in table] == [
        mods.NOT_NECESSARY,
        mods.AUGMENTED,
        mods.OWN_ANSWER_UNSCORED,
        mods.NECESSARY_NOT_PICKED,
    ]
    assert [(t["necessary"], t["augmented"]) for t in table] == [
        (False, False),
        (True, True),
        (False, False),
        (True, False),
    ]
    assert table[2]["own_reward"] is None and table[1]["pick_order"] == 0
    assert nearest == {"r3": ("r1", pytest.approx(0.6))}
    assert table[3]["nearest_row_id"] == "r1" and table[3]["generated"] == "a3"


def test_examined_split_caps_a_seeded_sample_of_high_quality_non_seed_rows() -> None:
    rows = [{"row_id": f"r{i}", "reward": float(i), "status": "ok"} for i in range(6)]
    rows.append({"row_id": "failed", "reward": None, "status": "failed"})
    candidates, examined, capped = mods.examined_split(rows, {"r5"}, 1.0, 2, seed=3)
    assert {r["row_id"] for r in candidates} == {"r2", "r3", "r4"}
    assert len(examined) == 2 and len(capped) == 1
    assert {r["row_id"] for r in examined + capped} == {"r2", "r3", "r4"}
    assert examined == mods.examined_split(rows, {"r5"}, 1.0, 2, seed=3)[1]
