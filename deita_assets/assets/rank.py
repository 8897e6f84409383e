"""Stage 2b: joint rank-and-score of each seed's 6 variants (DEITA's ranking prompt).

One request per seed shows all variants in a deterministic shuffled order (LLMs favour list order);
scores are mapped back through the shuffle. Unparseable replies get one repair turn, then the
failure is recorded with the raw reply. No score is ever invented.
"""

from collections import Counter, defaultdict
from typing import Any

import dagster as dg
from pydantic import Field

from deita_assets.assets.evol import GROUP, FailureRateConfig, evolved_variants
from deita_assets.core import evol
from deita_assets.core.parsing import parse_rank_reply
from deita_assets.core.prompts import COMPLEXITY, rank_request, repair_request
from deita_assets.core.report import counts_table, markdown_table
from deita_assets.orchestration.partitions import dimension
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.store import DuckDBStore, typed_rows

USABLE = (evol.OK, evol.DEGENERATE)


class RankConfig(dg.Config):
    max_tokens: int = Field(default=256, description="Tokens for one rank-and-score reply.")
    salt: int = Field(default=0, description="Changes the seeded shuffle of the variants shown.")


def _group(variants: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    by_seed: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for v in variants:
        by_seed[v["seed_id"]].append(v)
    return {k: sorted(v, key=lambda r: r["round"]) for k, v in sorted(by_seed.items())}


def _incomplete_reason(variants: list[dict[str, Any]], expected: int) -> str | None:
    if [v["round"] for v in variants] != list(range(expected)):
        return f"expected rounds 0..{expected - 1}, found {[v['round'] for v in variants]}"
    bad = [f"round {v['round']} {v['status']}" for v in variants if v["status"] not in USABLE]
    bad += [f"round {v['round']} {evol.REFUSAL}" for v in variants if evol.REFUSAL in (v["flags"] or ())]
    return "no complete variant set: " + ", ".join(bad) if bad else None


def _rows(
    dim: str, seed_id: int, n: int, order: list[int] | None, outcome: evol.RankOutcome, template
) -> list:
    by_round = evol.scores_by_round(outcome.scores, order) if outcome.scores and order else {}
    result = outcome.result
    return [
        {
            "dimension": dim,
            "seed_id": seed_id,
            "round": round_,
            "shown_position": order.index(round_) + 1 if order else None,
            "score": by_round.get(round_),
            "parse_status": outcome.status,
            "reason": outcome.reason,
            "raw_reply": outcome.raw_reply,
            "backend": result.backend if result else None,
            "model": result.model if result else None,
            "template_version": template,
            "llm_request_key": result.request_key if result else None,
        }
        for round_ in range(n)
    ]


@dg.asset(group_name=GROUP, partitions_def=dimension, deps=[evolved_variants], kinds={"duckdb", "openai"})
def ranked_scores(
    context: dg.AssetExecutionContext, config: RankConfig, store: DuckDBStore, llm: LLMResource
) -> dg.MaterializeResult:
    """LLM rank-and-score (1–6) of every seed's variant ladder in one prompt per seed: the labels the
    complexity / quality scorers learn from."""
    dim = context.partition_key
    grouped = _group(store.fetch_arrow("select_evolved_variants", [dim]).to_pylist())
    n = max((len(v) for v in grouped.values()), default=evol.ROUNDS + 1)
    text = "instruction" if dim == COMPLEXITY else "response"
    rows: list[dict[str, Any]] = []
    rankable = {}
    for seed_id, variants in grouped.items():
        if reason := _incomplete_reason(variants, n):
            rows += _rows(
                dim, seed_id, n, None, evol.RankOutcome(evol.RANK_SKIPPED, None, reason, None, None), None
            )
        else:
            rankable[seed_id] = variants
    with llm.session() as session:
        orders = {s: evol.shuffled_order(n, dim, s, config.salt) for s in rankable}
        requests = {
            s: rank_request(
                dim,
                [v[o][text] for o in orders[s]],
                v[0]["instruction"],
                session.structured_output,
                config.max_tokens,
            )
            for s, v in rankable.items()
        }
        # Only parseable replies are cached: a rerun re-asks a bad one instead of replaying it.
        accept = lambda result: parse_rank_reply(result.text, n).scores is not None  # noqa: E731
        firsts = dict(zip(requests, session.chat_many(list(requests.values()), accept), strict=True))
        parses = {s: parse_rank_reply(r.text, n) for s, r in firsts.items()}
        to_repair = {
            s: repair_request(requests[s], firsts[s].text or "", parses[s].problem or "", n)
            for s in rankable
            if evol.needs_repair(firsts[s], parses[s])
        }
        repairs = dict(zip(to_repair, session.chat_many(list(to_repair.values()), accept), strict=True))
        usage = session.usage_metadata()
    for s in rankable:
        repair = repairs.get(s)
        outcome = evol.rank_outcome(
            firsts[s], parses[s], repair, parse_rank_reply(repair.text, n) if repair else None
        )
        template = (to_repair[s] if outcome.status == evol.RANK_REPAIRED else requests[s]).template_version
        rows += _rows(dim, s, n, orders[s], outcome, template)
    rows.sort(key=lambda r: (r["seed_id"], r["round"]))
    store.replace_partition("ranked_scores", [dim], typed_rows("ranked_scores", rows))
    return dg.MaterializeResult(metadata={**_metadata(rows, grouped, text), **usage})


def _metadata(
    rows: list[dict[str, Any]], grouped: dict[int, list[dict[str, Any]]], text: str
) -> dict[str, Any]:
    pairs = [(r["round"], r["score"]) for r in rows if r["score"] is not None]
    seeds = Counter(r["parse_status"] for r in rows if r["round"] == 0)
    scores = {(r["seed_id"], r["round"]): r["score"] for r in rows}
    shown = [s for s in grouped if scores.get((s, 0)) is not None][:3]
    spearman = evol.round_score_spearman(pairs)
    return {
        "dagster/row_count": len(rows),
        "seeds_by_status": dg.MetadataValue.md(counts_table(seeds, "parse_status", "seeds")),
        "scored_seeds": sum(v for k, v in seeds.items() if k in (evol.RANK_OK, evol.RANK_REPAIRED)),
        "failed_seeds": sum(v for k, v in seeds.items() if k not in (evol.RANK_OK, evol.RANK_REPAIRED)),
        "spearman_round_vs_score": spearman if spearman is not None else "n/a (too few scores)",
        "score_by_round": dg.MetadataValue.md(markdown_table(evol.round_score_table(pairs))),
        "examples": dg.MetadataValue.md(
            markdown_table(
                [
                    {"seed_id": s, "round": v["round"], "score": scores[(s, v["round"])], text: v[text]}
                    for s in shown
                    for v in grouped[s]
                ],
                max_chars=160,
            )
        ),
    }


@dg.asset_check(asset=ranked_scores, partitions_def=dimension, blocking=False)
def ranked_scores_valid(
    context: dg.AssetCheckExecutionContext, config: FailureRateConfig, store: DuckDBStore
) -> dg.AssetCheckResult:
    """Scores lie in 1..6, an unscored row always says why, and the share of seeds without scores
    (LLM error, unparseable after repair, incomplete variants) stays under the threshold."""
    rows = store.fetch_arrow("select_ranked_scores", [context.partition_key]).to_pylist()
    out_of_range = sum(r["score"] is not None and not 1 <= r["score"] <= 6 for r in rows)
    unexplained = sum(r["score"] is None and not r["reason"] for r in rows)
    seeds = [r for r in rows if r["round"] == 0]
    failure_rate = sum(r["score"] is None for r in seeds) / max(1, len(seeds))
    return dg.AssetCheckResult(
        passed=bool(rows)
        and not out_of_range
        and not unexplained
        and failure_rate <= config.max_failure_rate,
        metadata={
            "rows": len(rows),
            "scores_out_of_range": out_of_range,
            "unscored_without_reason": unexplained,
            "seed_failure_rate": failure_rate,
            "max_failure_rate": config.max_failure_rate,
        },
    )
