"""Stage 2: Evol seeds and evolved variants (DEITA §Evol-Complexity / Evol-Quality).

The variants are scorer training data, not pool scores: M rounds per seed, each round rewriting the
previous one with one operation, every request through the cached LLM layer.
"""

from collections import Counter
from typing import Any

import dagster as dg
from pydantic import Field

from deita_assets.core import evol
from deita_assets.core.llm_types import ChatResult
from deita_assets.core.prompts import COMPLEXITY, evol_request
from deita_assets.core.report import counts_table, markdown_table
from deita_assets.orchestration.partitions import dimension
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.store import DuckDBStore, typed_rows

GROUP = "evol"


class EvolSeedConfig(dg.Config):
    size: int = Field(default=8, description="Seeds to sample (demo: 8; the paper used 2,000 Alpaca rows).")
    sample_seed: int = Field(default=0, description="Seed of the reproducible, source-stratified sample.")
    min_instruction_chars: int = Field(default=10, description="Skip near-empty instructions.")
    max_instruction_chars: int = Field(default=1000, description="Keep prompts within the LLM context.")
    min_response_chars: int = Field(default=1, description="Skip empty responses.")
    max_response_chars: int = Field(default=1500, description="Keep 6 responses within one rank prompt.")


@dg.asset(group_name=GROUP, deps=[dg.AssetDep("raw_pool")], kinds={"duckdb"})
def evol_seed(
    context: dg.AssetExecutionContext, config: EvolSeedConfig, store: DuckDBStore
) -> dg.MaterializeResult:
    """A reproducible sample of single-turn instruction/response pool rows, stratified by source:
    the starting points that Evol-Complexity and Evol-Quality rewrite into 6-variant ladders."""
    candidates = store.fetch_arrow(
        "select_evol_seed_candidates",
        [
            config.min_instruction_chars,
            config.max_instruction_chars,
            config.min_response_chars,
            config.max_response_chars,
        ],
    ).to_pylist()
    chosen = evol.stratified_sample(
        [(c["row_id"], c["source"]) for c in candidates], config.size, config.sample_seed
    )
    by_id = {r["row_id"]: r for r in store.fetch_arrow("select_pool_pairs", [chosen]).to_pylist()}
    rows = [
        {"seed_id": i, **by_id[row_id], "sample_seed": config.sample_seed} for i, row_id in enumerate(chosen)
    ]
    table = typed_rows("evol_seed", rows)
    store.replace_partition("evol_seed", [], table)
    if len(rows) < config.size:
        context.log.warning(f"only {len(rows)} eligible single-turn rows for {config.size} requested seeds")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "requested": config.size,
            "eligible_rows": len(candidates),
            "by_source": dg.MetadataValue.md(counts_table(Counter(r["source"] for r in rows), "source")),
            "preview": dg.MetadataValue.md(
                markdown_table([{k: r[k] for k in ("seed_id", "source", "instruction")} for r in rows[:5]])
            ),
        }
    )


class EvolConfig(dg.Config):
    rounds: int = Field(default=evol.ROUNDS, description="M evolution rounds per seed (paper: 5).")
    temperature: float = Field(default=0.7, description="Sampling temperature of the rewriter.")
    max_tokens_cap: int = Field(default=1024, description="Upper bound on tokens per rewrite.")
    op_salt: int = Field(default=0, description="Changes the seeded choice of operation per round.")


def _variant_row(
    dim: str, seed: dict[str, Any], variant: evol.Variant, result: ChatResult | None, template: str | None
) -> dict[str, Any]:
    complexity = dim == COMPLEXITY
    return {
        "dimension": dim,
        "seed_id": seed["seed_id"],
        "round": variant.round,
        "instruction": variant.text if complexity else seed["instruction"],
        "response": (seed["response"] if variant.round == 0 else None) if complexity else variant.text,
        "op": variant.op,
        "status": variant.status,
        "flags": list(variant.flags),
        "reason": variant.reason,
        "finish_reason": result.finish_reason if result else None,
        "backend": result.backend if result else None,
        "model": result.model if result else None,
        "template_version": template,
        "llm_request_key": result.request_key if result else None,
    }


@dg.asset(group_name=GROUP, partitions_def=dimension, deps=[evol_seed], kinds={"duckdb", "openai"})
def evolved_variants(
    context: dg.AssetExecutionContext, config: EvolConfig, store: DuckDBStore, llm: LLMResource
) -> dg.MaterializeResult:
    """M rounds of in-depth evolution per seed for one dimension: complexity rewrites the instruction,
    quality rewrites the response with the instruction fixed. Degenerate rounds are flagged, failed
    and refused ones (core.refusal) recorded with their reason (later rounds of that seed are then
    skipped, also recorded). Only non-empty rewrites are cached, so a rerun re-asks empty ones."""
    dim = context.partition_key
    seeds = store.fetch_arrow("select_evol_seed").to_pylist()
    field = "instruction" if dim == COMPLEXITY else "response"
    originals = {s["seed_id"]: evol.original(s[field]) for s in seeds}
    rows = [_variant_row(dim, s, originals[s["seed_id"]], None, None) for s in seeds]
    current = {s["seed_id"]: s[field] for s in seeds}
    failed_at = {sid: 0 for sid, variant in originals.items() if evol.stops_chain(variant)}
    with llm.session() as session:
        for round_ in range(1, config.rounds + 1):
            alive = [s for s in seeds if s["seed_id"] not in failed_at]
            ops = {s["seed_id"]: evol.pick_op(dim, s["seed_id"], round_, config.op_salt) for s in seeds}
            requests = [
                _evol_request(dim, s, current[s["seed_id"]], ops[s["seed_id"]], round_, config) for s in alive
            ]
            results = session.chat_many(requests, accept=evol.usable_reply)
            for seed, request, result in zip(alive, requests, results, strict=True):
                sid = seed["seed_id"]
                variant = evol.judge_evolution(round_, ops[sid], current[sid], result, seed[field])
                rows.append(_variant_row(dim, seed, variant, result, request.template_version))
                if evol.stops_chain(variant):
                    failed_at[seed["seed_id"]] = round_
                else:
                    current[seed["seed_id"]] = variant.text
            for seed in seeds:
                if failed_at.get(seed["seed_id"], round_) < round_:
                    variant = evol.skipped(round_, ops[seed["seed_id"]], failed_at[seed["seed_id"]])
                    rows.append(_variant_row(dim, seed, variant, None, None))
            context.log.info(f"{dim} round {round_}: {len(alive)} rewrites, {len(failed_at)} seeds stopped")
        usage = session.usage_metadata()
    table = typed_rows("evolved_variants", rows)
    store.replace_partition("evolved_variants", [dim], table)
    return dg.MaterializeResult(metadata={**_variants_metadata(rows), **usage})


def _evol_request(dim: str, seed: dict[str, Any], previous: str, op: str, round_: int, config: EvolConfig):
    instruction = previous if dim == COMPLEXITY else seed["instruction"]
    return evol_request(
        dim,
        op,
        instruction,
        previous,
        seed=evol.stable_hash(seed["seed_id"], round_) % 2**31,
        temperature=config.temperature,
        max_tokens=evol.evol_max_tokens(previous, config.max_tokens_cap),
    )


def _variants_metadata(rows: list[dict[str, Any]]) -> dict[str, Any]:
    text = "instruction" if rows and rows[0]["dimension"] == COMPLEXITY else "response"
    evolved = [r for r in rows if r["round"] > 0]
    first_seeds = sorted({r["seed_id"] for r in rows})[:2]
    return {
        "dagster/row_count": len(rows),
        "seeds": len({r["seed_id"] for r in rows}),
        "status": dg.MetadataValue.md(counts_table(Counter(r["status"] for r in evolved), "status")),
        "flags": dg.MetadataValue.md(counts_table(Counter(f for r in evolved for f in r["flags"]), "flag")),
        "ops": dg.MetadataValue.md(counts_table(Counter(r["op"] for r in evolved), "op")),
        "degenerate_rate": sum(r["status"] == evol.DEGENERATE for r in evolved) / max(1, len(evolved)),
        "failed_rate": sum(r["status"] != evol.OK and r["status"] != evol.DEGENERATE for r in evolved)
        / max(1, len(evolved)),
        "preview": dg.MetadataValue.md(
            markdown_table(
                [
                    {k: r[k] for k in ("seed_id", "round", "op", "status", text)}
                    for r in sorted(rows, key=lambda r: (r["seed_id"], r["round"]))
                    if r["seed_id"] in first_seeds
                ],
                max_chars=200,
            )
        ),
    }


class FailureRateConfig(dg.Config):
    max_failure_rate: float = Field(default=0.25, description="Largest tolerated share of failed items.")


@dg.asset_check(asset=evolved_variants, partitions_def=dimension, blocking=False)
def evolved_variants_complete(
    context: dg.AssetCheckExecutionContext, config: FailureRateConfig, store: DuckDBStore
) -> dg.AssetCheckResult:
    """Every seed has rounds 0..M, each usable or with a recorded reason; failures under threshold."""
    dim = context.partition_key
    seeds = {s["seed_id"] for s in store.fetch_arrow("select_evol_seed").to_pylist()}
    rows = store.fetch_arrow("select_evolved_variants", [dim]).to_pylist()
    rounds = max((r["round"] for r in rows), default=0) + 1
    by_seed: dict[int, list[int]] = {s: [] for s in seeds}
    for r in rows:
        by_seed.setdefault(r["seed_id"], []).append(r["round"])
    incomplete = sorted(s for s, found in by_seed.items() if sorted(found) != list(range(rounds)))
    unexplained = sum(r["status"] not in (evol.OK,) and not r["reason"] for r in rows)
    evolved = [r for r in rows if r["round"] > 0]
    failure_rate = sum(r["status"] in (evol.FAILED, evol.SKIPPED) for r in evolved) / max(1, len(evolved))
    return dg.AssetCheckResult(
        passed=bool(rows) and not incomplete and not unexplained and failure_rate <= config.max_failure_rate,
        metadata={
            "seeds": len(seeds),
            "rounds_per_seed": rounds,
            "incomplete_seeds": str(incomplete[:20]),
            "non_ok_rows_without_reason": unexplained,
            "failure_rate": failure_rate,
            "max_failure_rate": config.max_failure_rate,
        },
    )
