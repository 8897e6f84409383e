"""Evol logic: stratified seeds, operation schedule, degeneracy flags, shuffle mapping, outcomes."""

from collections import Counter

import pytest

from deita_assets.core import evol
from deita_assets.core.llm_types import ChatResult
from deita_assets.core.parsing import parse_rank_reply
from deita_assets.core.prompts import COMPLEXITY, OPS, QUALITY, evol_request, rank_request, repair_request


def result(text: str | None, error: str | None = None, finish: str = "stop") -> ChatResult:
    return ChatResult("k", text, finish, 1, 1, False, error, "detail" if error else None, "b", "m")


def test_stratified_sample_is_reproducible_proportional_and_order_free() -> None:
    candidates = [(f"a{i}", "a") for i in range(60)] + [(f"b{i}", "b") for i in range(30)] + [("c0", "c")]
    sample = evol.stratified_sample(candidates, 30, seed=1)
    assert sample == evol.stratified_sample(list(reversed(candidates)), 30, seed=1)
    assert sample != evol.stratified_sample(candidates, 30, seed=2)
    by_source = Counter(row[0] for row in sample)
    assert by_source == {"a": 20, "b": 10} or by_source == {"a": 19, "b": 10, "c": 1}
    assert len(evol.stratified_sample(candidates, 500, seed=1)) == len(candidates)


def test_small_sources_are_not_crowded_out() -> None:
    candidates = [(f"a{i}", "a") for i in range(10)] + [(f"b{i}", "b") for i in range(10)]
    assert Counter(r[0] for r in evol.stratified_sample(candidates, 4, 0)) == {"a": 2, "b": 2}


def test_ops_are_seeded_and_cover_the_dimension() -> None:
    ops = {evol.pick_op(QUALITY, seed, r) for seed in range(20) for r in range(1, 6)}
    assert ops == set(OPS[QUALITY])
    assert evol.pick_op(COMPLEXITY, 3, 2) == evol.pick_op(COMPLEXITY, 3, 2)


def test_clean_reply_strips_labels_and_quotes() -> None:
    assert evol.clean_reply("  Rewritten instruction: Do X.  ") == "Do X."
    assert evol.clean_reply('**New Instruction:** "Do X."') == "Do X."
    assert evol.clean_reply("Instructions matter: do X.") == "Instructions matter: do X."
    assert evol.clean_reply(None) == ""
    assert evol.clean_reply("Here is the updated instruction in a more complex version:\n\nDo X.") == "Do X."
    assert evol.clean_reply("<instruction>\nDo X.\n</instruction>") == "Do X."
    assert evol.clean_reply("<response> Do X.") == "Do X."
    assert evol.clean_reply("Do <response> X.") == "Do <response> X."  # mid-text: left for the echo flag


def test_degeneracy_flags() -> None:
    prev = "Write a poem about cats."
    assert evol.degeneracy_flags(prev, "", False) == [evol.EMPTY]
    assert evol.degeneracy_flags(prev, "write a  poem about CATS.", False) == [evol.UNCHANGED]
    echoed = "Rewrite the instruction below into a slightly more complex version. <instruction> Write"
    assert evol.ECHOED_SCAFFOLD in evol.degeneracy_flags(prev, echoed, False)
    assert evol.degeneracy_flags(prev, "A poem.", True) == [evol.SHORTER, evol.TRUNCATED]
    assert evol.degeneracy_flags(prev, prev + " It must rhyme and have four stanzas.", False) == []
    # a marker already present in the seed text is not an echo; one that leaked in later still is
    assert evol.degeneracy_flags("How: explain", "How: explain it in two short steps", False) == []
    leaked = "Rewrite the instruction: poem about cats"
    assert evol.degeneracy_flags(leaked, leaked + " in four stanzas", False, original=prev) == [
        evol.ECHOED_SCAFFOLD
    ]


def test_judge_evolution_statuses() -> None:
    ok = evol.judge_evolution(1, "deepen", "Do X.", result("Do X, then explain why it works."))
    assert ok.status == evol.OK and ok.text == "Do X, then explain why it works." and ok.reason is None
    bad = evol.judge_evolution(1, "deepen", "Do X.", result(None, "timeout"))
    assert bad.status == evol.FAILED and bad.text == "" and bad.reason.startswith("timeout")
    empty = evol.judge_evolution(1, "deepen", "Do X.", result("   "))
    assert empty.status == evol.FAILED and empty.flags == (evol.EMPTY,)
    same = evol.judge_evolution(1, "deepen", "Do X.", result("Do X."))
    assert same.status == evol.DEGENERATE and same.reason == evol.UNCHANGED


def test_shuffle_maps_scores_back_to_rounds() -> None:
    order = evol.shuffled_order(6, COMPLEXITY, seed_id=7)
    assert sorted(order) == list(range(6)) and order == evol.shuffled_order(6, COMPLEXITY, 7)
    assert order != list(range(6)) or evol.shuffled_order(6, COMPLEXITY, 8) != list(range(6))
    by_position = {p + 1: float(round_ + 1) for p, round_ in enumerate(order)}  # score = round + 1
    assert evol.scores_by_round(by_position, order) == {r: float(r + 1) for r in range(6)}


def test_rank_outcome_never_invents() -> None:
    good = "[1] Score: 2\n[2] Score: 5"
    assert evol.rank_outcome(result(good), parse_rank_reply(good, 2), None, None).status == evol.RANK_OK
    bad = result("dunno")
    first = parse_rank_reply("dunno", 2)
    assert evol.needs_repair(bad, first)
    fixed = evol.rank_outcome(bad, first, result(good), parse_rank_reply(good, 2))
    assert fixed.status == evol.RANK_REPAIRED and fixed.scores == {1: 2.0, 2: 5.0}
    lost = evol.rank_outcome(bad, first, result("still no"), parse_rank_reply("still no", 2))
    assert lost.status == evol.RANK_PARSE_FAILED and lost.scores is None
    assert "dunno" in lost.raw_reply and "still no" in lost.raw_reply
    error = evol.rank_outcome(result(None, "rate_limited"), parse_rank_reply(None, 2), None, None)
    assert error.status == evol.RANK_LLM_ERROR and error.scores is None and "rate_limited" in error.reason


def test_round_score_summary() -> None:
    pairs = [(r, float(min(6, r + 1))) for r in range(6)] * 3
    assert evol.round_score_spearman(pairs) == pytest.approx(1.0)
    table = evol.round_score_table(pairs)
    assert table[0] == {"round": 0, "n": 3, "mean": 1.0, "=1": 3, "=2": 0, "=3": 0, "=4": 0, "=5": 0, "=6": 0}
    assert evol.round_score_spearman([(0, 3.0), (1, 3.0), (2, 3.0)]) is None


def test_prompts_are_versioned_and_shaped() -> None:
    req = evol_request(QUALITY, "depth", "Q?", "A.", seed=1, temperature=0.7, max_tokens=64)
    assert (
        req.template_version.startswith("evol-v1/quality/depth")
        and "<response>\nA.\n</response>" in (req.messages[-1]["content"])
    )
    rank = rank_request(COMPLEXITY, ["a", "b", "c"], "a", structured=True)
    assert (
        rank.json_schema["properties"]["scores"]["minItems"] == 3 and "[3] c" in rank.messages[0]["content"]
    )
    repair = repair_request(rank, "junk", "no scores", 3)
    assert [m["role"] for m in repair.messages] == ["user", "assistant", "user"]
    assert repair.template_version.startswith("rank-repair-v1/") and repair.json_schema == rank.json_schema
