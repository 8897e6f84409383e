"""Pool-score assembly: per-turn pairs, Σ c·q vs mean, failures with reasons, fingerprints."""

import numpy as np
import pytest

from deita_assets.core.pool_scoring import combine_turns, plan_turns, score_rows, shard_fingerprint
from deita_assets.core.score_templates import ScoreBatch


def _turns(*texts: str) -> list[dict]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)]


ROWS = [
    {"row_id": "a", "source": "x", "turns": _turns("q1", "a1")},
    {"row_id": "b", "source": "x", "turns": _turns("q1", "a1", "q2", "a2")},
    {"row_id": "c", "source": "y", "turns": _turns("only a question")},
    {"row_id": "d", "source": "y", "turns": _turns(" ", "answer")},
    {"row_id": "e", "source": "y", "turns": _turns("bad", "turn")},
]


def _length_scorer(rows):
    """A deterministic stand-in scorer: 1 + (characters mod 5); 'bad' fails with a reason."""
    scores = np.array([np.nan if "bad" in r[0] else 1.0 + sum(map(len, r)) % 5 for r in rows])
    reasons = ["non-finite digit logits" if "bad" in r[0] else None for r in rows]
    return ScoreBatch(scores, reasons, [len(r[0]) > 10 for r in rows], 0.5)


def test_combine_turns_sum_and_mean():
    assert combine_turns([2.0, 3.0], [4.0, 5.0]) == 23.0
    assert combine_turns([2.0, 3.0], [4.0, 5.0], "mean") == 11.5
    with pytest.raises(ValueError):
        combine_turns([1.0], [1.0], "max")


def test_plan_turns_lists_unscorable_rows_with_reasons():
    turns, unscorable = plan_turns(ROWS)
    assert [(t.row, t.turn, t.instruction) for t in turns] == [
        (0, 0, "q1"),
        (1, 0, "q1"),
        (1, 1, "q2"),
        (4, 0, "bad"),
    ]
    assert unscorable == {2: "no (user, assistant) turn pair to score", 3: "empty instruction in a turn"}


def test_score_rows_sum_failures_and_stats():
    out, stats = score_rows(ROWS, _length_scorer, _length_scorer)
    by_id = {r["row_id"]: r for r in out}
    # c("q1") = 1 + 2 % 5 = 3; q("q1","a1") = 1 + 4 % 5 = 5; c("q2") = 3, q = 5
    assert by_id["a"]["complexity"] == [3.0] and by_id["a"]["quality"] == [5.0]
    assert by_id["a"]["evol_score"] == 15.0 and by_id["b"]["evol_score"] == 30.0
    assert by_id["b"]["n_turns"] == 2 and by_id["b"]["status"] == "ok"
    assert by_id["c"]["status"] == "failed" and by_id["c"]["evol_score"] is None
    assert by_id["e"]["failure_reason"] == (
        "turn 0 complexity: non-finite digit logits; turn 0 quality: non-finite digit logits"
    )
    assert by_id["e"]["complexity"] == [None]
    assert stats["turns"] == 4 and stats["complexity_failed_turns"] == 1
    mean_out, _ = score_rows(ROWS, _length_scorer, _length_scorer, "mean")
    assert {r["row_id"]: r["evol_score"] for r in mean_out}["b"] == 15.0


def test_fingerprint_tracks_rows_and_scorer():
    base = shard_fingerprint(ROWS, {"model_hash": "h1"})
    assert base == shard_fingerprint(ROWS, {"model_hash": "h1"})
    assert base != shard_fingerprint(ROWS, {"model_hash": "h2"})
    assert base != shard_fingerprint(ROWS[:-1], {"model_hash": "h1"})
    edited = [*ROWS[:-1], {**ROWS[-1], "turns": _turns("bad", "other answer")}]
    assert base != shard_fingerprint(edited, {"model_hash": "h1"})
