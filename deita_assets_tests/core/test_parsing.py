"""Rank-and-score reply parsing: accept the formats models really produce, reject anything short of
one in-range score per item, and never guess."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deita_assets.core.parsing import parse_rank_reply


def test_strict_lines() -> None:
    parsed = parse_rank_reply("[1] Score: 4\n[2] Score: 2\n[3] Score: 6", 3)
    assert parsed.scores == {1: 4.0, 2: 2.0, 3: 6.0} and parsed.fmt == "lines"


def test_decorated_lines_and_preamble() -> None:
    reply = "Here is my ranking:\n**[1]** score = 4.5 (most complex)\n- [2]: 1\n[3] 3/6\n[ 4 ] - Score 2."
    assert parse_rank_reply(reply, 4).scores == {1: 4.5, 2: 1.0, 3: 3.0, 4: 2.0}


def test_json_reply_in_any_key_order_and_fenced() -> None:
    body = {"scores": [{"score": 5, "item": 2}, {"item": 1, "score": 3}]}
    assert parse_rank_reply("```json\n" + json.dumps(body) + "\n```", 2).scores == {1: 3.0, 2: 5.0}
    assert parse_rank_reply('{"scores": {"1": 2, "2": 4}}', 2).scores == {1: 2.0, 2: 4.0}


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("", "empty"),
        ("I like them all", 'no "[k] Score: x" lines'),
        ("[1] Score: 4", "no score for item [2]"),
        ("[1] Score: 4\n[2] Score: 9", "outside 1 to 6"),
        ("[1] Score: 0\n[2] Score: 3", "outside 1 to 6"),
        ("[1] Score: -2\n[2] Score: 3", "outside 1 to 6"),
        ("[1] Score: 4\n[1] Score: 5\n[2] Score: 3", "more than one score"),
        ("[1] Score: 4\n[2] Score: 3\n[3] Score: 3", "does not exist"),
        ("[1] Write 3 poems about cats\n[2] Score: 2", "no score for item [1]"),  # echoed variant
        ('{"scores": [{"item": 1, "score": 2}]}', "no score for item [2]"),
    ],
)
def test_invalid_replies_say_why(reply: str, problem: str) -> None:
    parsed = parse_rank_reply(reply, 2)
    assert parsed.scores is None and problem in parsed.problem


def test_repeated_identical_score_is_accepted() -> None:
    assert parse_rank_reply("[1] Score: 4\n[1] Score: 4\n[2] Score: 3", 2).scores == {1: 4.0, 2: 3.0}


@given(st.lists(st.integers(1, 6), min_size=1, max_size=8), st.booleans())
def test_round_trip(scores: list[int], as_json: bool) -> None:
    if as_json:
        reply = json.dumps({"scores": [{"item": k, "score": s} for k, s in enumerate(scores, 1)]})
    else:
        reply = "\n".join(f"[{k}] Score: {s}" for k, s in enumerate(scores, 1))
    assert parse_rank_reply(reply, len(scores)).scores == {k: float(s) for k, s in enumerate(scores, 1)}
