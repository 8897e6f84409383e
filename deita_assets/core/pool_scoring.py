"""Pool scores (DEITA §1.5): per turn c_t on the instruction alone, q_t on (instruction, response);
the sample score is Σ_t c_t·q_t (the paper's sum; the mean is an option).

A row that cannot be scored — no (user, assistant) pair, an empty instruction, or a turn whose
scorer failed — is returned with status 'failed' and its reason, and no sample score.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deita_assets.core.formats import instruction_response_pairs
from deita_assets.core.score_templates import ScoreBatch

OK, FAILED = "ok", "failed"
AGGREGATES = ("sum", "mean")

ScoreFn = Callable[[Sequence[tuple[str, ...]]], ScoreBatch]


def combine_turns(complexity: Sequence[float], quality: Sequence[float], aggregate: str = "sum") -> float:
    """Σ c_t·q_t (default, longer dialogues score higher as in the paper) or its mean over turns."""
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r} (sum | mean)")
    products = np.asarray(complexity, dtype=np.float64) * np.asarray(quality, dtype=np.float64)
    return float(products.sum() if aggregate == "sum" else products.mean())


@dataclass(frozen=True)
class TurnRef:
    row: int
    turn: int
    instruction: str
    response: str


def plan_turns(rows: Sequence[Mapping[str, Any]]) -> tuple[list[TurnRef], dict[int, str]]:
    """Every (user, assistant) pair to score, and the rows that cannot be scored at all (with why)."""
    turns: list[TurnRef] = []
    unscorable: dict[int, str] = {}
    for index, row in enumerate(rows):
        pairs = instruction_response_pairs(row["turns"])
        if not pairs:
            unscorable[index] = "no (user, assistant) turn pair to score"
        elif any(not instruction.strip() for instruction, _ in pairs):
            unscorable[index] = "empty instruction in a turn"
        else:
            turns += [TurnRef(index, t, q, a) for t, (q, a) in enumerate(pairs)]
    return turns, unscorable


def _nan_to_none(values: Sequence[float]) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def score_rows(
    rows: Sequence[Mapping[str, Any]],
    complexity: ScoreFn,
    quality: ScoreFn,
    aggregate: str = "sum",
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Score every row; returns one output dict per row (same order) and run statistics."""
    turns, unscorable = plan_turns(rows)
    c = complexity([(t.instruction,) for t in turns])
    q = quality([(t.instruction, t.response) for t in turns])
    by_row: dict[int, list[int]] = {}
    for k, ref in enumerate(turns):
        by_row.setdefault(ref.row, []).append(k)
    out = []
    for index, row in enumerate(rows):
        ks = by_row.get(index, [])
        reasons = [
            f"turn {turns[k].turn} {dim}: {batch.reasons[k]}"
            for k in ks
            for dim, batch in (("complexity", c), ("quality", q))
            if batch.reasons[k] is not None
        ]
        reason = unscorable.get(index) or ("; ".join(reasons) if reasons else None)
        cs, qs = [float(c.scores[k]) for k in ks], [float(q.scores[k]) for k in ks]
        out.append(
            {
                "row_id": row["row_id"],
                "source": row.get("source"),
                "n_turns": len(ks),
                "complexity": _nan_to_none(cs),
                "quality": _nan_to_none(qs),
                "evol_score": None if reason else combine_turns(cs, qs, aggregate),
                "status": FAILED if reason else OK,
                "failure_reason": reason,
                "truncated_turns": sum(c.truncated[k] or q.truncated[k] for k in ks),
            }
        )
    stats = {
        "turns": len(turns),
        "complexity_seconds": c.seconds,
        "quality_seconds": q.seconds,
        "complexity_truncated": int(sum(c.truncated)),
        "quality_truncated": int(sum(q.truncated)),
        "complexity_failed_turns": c.n_failed,
        "quality_failed_turns": q.n_failed,
        **{f"complexity_{k}": v for k, v in c.extra.items()},
        **{f"quality_{k}": v for k, v in q.extra.items()},
    }
    return out, stats


def shard_fingerprint(rows: Sequence[Mapping[str, Any]], scorer_spec: Mapping[str, Any]) -> str:
    """Hash of the shard's rows and of everything that determines the scores: if it is unchanged,
    the stored scores are still right and the shard is not recomputed."""
    digest = hashlib.sha256(json.dumps(scorer_spec, sort_keys=True, default=str).encode())
    for row in rows:
        digest.update(row["row_id"].encode())
        digest.update(json.dumps(row["turns"], sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()[:32]
