"""Does the selection train a better model? Strategies side by side at an equal demo budget.

Usage: python benchmarks/selection_effect.py [--data ../shared/data] [--pool-size 3000] [--budget 200]
       [--steps 25] [--seeds 0,1] [--strategies deita,random,longest_response] [--judge-questions 0]

Pipeline, through the project's own code (each step says in its output whether it ran the real asset):
1. ingest every pool file of the data folder exactly as `raw_pool` does (inbox plan + ingest_shard),
   then keep a seeded uniform sample of --pool-size rows as the demo pool (the full ~90K-row pool
   cannot be scored and embedded on 2 CPU cores in a benchmark);
2. `eval_holdout` (real asset): MT-Bench prompts + a held-out split of LIMA/GPTeacher rows;
3. per strategy and seed: `selected_subset` when it is defined on main (real asset, with its
   upstream), otherwise a stand-in that the output names: random = core.selection.random_order,
   longest_response = longest total assistant text; deita has no stand-in and is skipped;
4. `finetuned_model` (real asset) with the same steps x batch for every strategy (equal compute and
   equal row budget), then `base_model_evaluation` and `model_evaluation` (real assets): reference
   NLL of MT-Bench GPT-4 answers and of the held-out rows; the judge only with --judge-questions > 0;
5. `strategy_comparison` (real asset) and a table of NLL deltas vs the base model, mean ± sd over seeds.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa

from deita_assets.assets.evaluation import (
    base_model_evaluation,
    eval_holdout,
    model_evaluation,
    strategy_comparison,
)
from deita_assets.assets.ingest import ingest_shard
from deita_assets.assets.training import finetuned_model
from deita_assets.core.inbox import execute_plan, plan_inbox, scan_inbox
from deita_assets.core.selection import random_order
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.store import DuckDBStore
from deita_assets.resources.trainer import TrainerResource
from deita_assets.sql import load_sql

STAND_IN = "stand-in: selected_subset is not defined on main"


def build_demo_pool(store: DuckDBStore, data: Path, inbox: Path, size: int, seed: int) -> dict[str, Any]:
    """Real ingestion of every pool file, then a seeded uniform sample of `size` rows kept."""
    started = time.perf_counter()
    execute_plan(plan_inbox([data]), inbox)
    new, _ = scan_inbox(inbox, {}, set(), settle_seconds=0, now=time.time())
    for key, path in new:
        ingest_shard(store, key, path)
    row_ids = sorted(r["row_id"] for r in store.fetch_arrow("select_pool_row_ids").to_pylist())
    keep = sorted(random.Random(seed).sample(row_ids, min(size, len(row_ids))))
    with store.get_connection() as conn:
        conn.register("_keep_rows", pa.table({"row_id": keep}))
        try:
            conn.execute(load_sql("delete_pool_rows_not_kept"))
        finally:
            conn.unregister("_keep_rows")
    sources = store.fetch_arrow("select_pool_source_counts").to_pylist()
    return {
        "ingested_rows": len(row_ids),
        "demo_rows": len(keep),
        "shards": len(new),
        "seconds": time.perf_counter() - started,
        "sources": {s["source"]: s["n"] for s in sources},
    }


def stand_in_selection(store: DuckDBStore, strategy: str, budget: int, seed: int) -> int:
    """Only when selected_subset is missing: random or longest-response rows, held-out rows excluded."""
    rows = store.fetch_arrow("select_selectable_pool_rows").to_pylist()
    ids = [r["row_id"] for r in rows]
    if strategy == "random":
        order = [ids[i] for i in random_order(ids, seed)]
    elif strategy == "longest_response":
        length = {r["row_id"]: r["assistant_chars"] for r in rows}
        order = sorted(ids, key=lambda rid: (-length[rid], rid))
    else:
        raise ValueError(f"no stand-in for {strategy}")
    table = pa.Table.from_pylist(
        [
            {
                "strategy": strategy,
                "row_id": rid,
                "examined_order": k,
                "score": None,
                "kept": True,
                "reason": STAND_IN,
            }
            for k, rid in enumerate(order[:budget])
        ]
    )
    return store.replace_partition("selection", "delete_selection_strategy", [strategy], table)


def real_selection(defs: dg.Definitions, resources: dict, strategy: str, budget: int, seed: int) -> None:
    """selected_subset with everything upstream of it except raw_pool (already ingested)."""
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey("selected_subset")
    upstream = [
        k
        for k in graph.get_all_asset_keys()
        if k != dg.AssetKey("raw_pool")
        and (k == key or key in graph.get(k).child_keys or k in graph.get_ancestor_asset_keys(key))
    ]
    assets = [a for a in defs.assets if set(a.keys) & set(upstream)]
    result = dg.materialize(
        assets,
        partition_key=strategy,
        resources=resources,
        selection=upstream,
        run_config={"ops": {"selected_subset": {"config": {"budget": budget, "seed": seed}}}},
    )
    if not result.success:
        raise RuntimeError(f"selected_subset[{strategy}] failed")


def evaluation_rows(store: DuckDBStore) -> dict[tuple[str, str], float]:
    return {
        (r["strategy"], r["benchmark"]): r["value"]
        for r in store.fetch_arrow("select_evaluation").to_pylist()
        if r["metric"] == "reference_nll"
    }


def main() -> None:
    default_data = os.environ.get(
        "DEITA_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--home", type=Path, default=None, help="DEITA_HOME to use (default: a temp dir)")
    parser.add_argument("--pool-size", type=int, default=3000)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--strategies", default="deita,random,longest_response")
    parser.add_argument("--judge-questions", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (1 helps on a busy CPU)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"data folder {args.data} not found (pass --data or set DEITA_SHARED_DATA)")
    home = args.home or Path(tempfile.mkdtemp(prefix="selection_effect_"))
    os.environ["DEITA_HOME"] = str(home)
    from deita_assets.definitions import defs

    store = DuckDBStore(database=str(home / "deita.duckdb"))
    resources = {
        **defs.resources,
        "store": store,
        "trainer": TrainerResource(torch_threads=args.threads),
        "llm": defs.resources.get("llm", LLMResource()),
    }
    seeds = [int(s) for s in args.seeds.split(",")]
    has_selection = dg.AssetKey("selected_subset") in {k for a in defs.assets for k in a.keys}
    print(f"home {home}; selected_subset on main: {has_selection}; noisy timings: shared 2-core CPU")

    pool = build_demo_pool(store, args.data, home / "inbox", args.pool_size, seed=0)
    print(
        f"pool: {pool['ingested_rows']} rows ingested from {pool['shards']} shards "
        f"in {pool['seconds']:.0f} s; "
        f"demo pool {pool['demo_rows']} rows: {pool['sources']}"
    )
    holdout = dg.materialize([eval_holdout], resources=resources)
    held = holdout.asset_materializations_for_node("eval_holdout")[0].metadata
    print(
        f"eval_holdout: {held['pool_holdout_rows'].value} pool rows held out, "
        f"{held['mt_bench_questions'].value} MT-Bench questions "
        f"({held['mt_bench_with_reference'].value} with GPT-4 "
        f"references), {held['pool_rows_repeating_mt_bench'].value} pool rows repeating an MT-Bench prompt"
    )

    eval_config = {"judge_questions": args.judge_questions}
    started = time.perf_counter()
    dg.materialize(
        [base_model_evaluation],
        resources=resources,
        run_config={"ops": {"base_model_evaluation": {"config": eval_config}}},
    )
    print(f"base model evaluated in {time.perf_counter() - started:.0f} s")
    base = evaluation_rows(store)

    results: dict[str, list[dict[str, float]]] = {}
    for seed in seeds:
        for strategy in args.strategies.split(","):
            how = "real asset"
            if has_selection:
                real_selection(defs, resources, strategy, args.budget, seed)
            elif strategy in ("random", "longest_response"):
                stand_in_selection(store, strategy, args.budget, seed)
                how = "stand-in"
            else:
                print(f"seed {seed} {strategy}: SKIPPED ({STAND_IN}; deita needs pool_scores + embeddings)")
                continue
            train_config = {
                "max_steps": args.steps,
                "batch_size": args.batch_size,
                "max_length": args.max_length,
                "learning_rate": args.learning_rate,
                "seed": seed,
                "bf16": args.bf16,
                "save_steps": max(args.steps, 1),
            }
            started = time.perf_counter()
            run = dg.materialize(
                [finetuned_model, model_evaluation],
                resources=resources,
                partition_key=strategy,
                run_config={
                    "ops": {
                        "finetuned_model": {"config": train_config},
                        "model_evaluation": {"config": eval_config},
                    }
                },
            )
            meta = run.asset_materializations_for_node("finetuned_model")[0].metadata
            nll = evaluation_rows(store)
            row = {
                "rows": meta["dagster/row_count"].value,
                "first_loss": meta["first_loss"].value,
                "final_loss": meta["final_loss"].value,
                "tokens_per_s": meta["tokens_per_second"].value or 0.0,
                "mt_bench_delta": nll[(strategy, "mt_bench")] - base[("base", "mt_bench")],
                "holdout_delta": nll[(strategy, "pool_holdout")] - base[("base", "pool_holdout")],
                "seconds": time.perf_counter() - started,
            }
            results.setdefault(strategy, []).append(row)
            print(
                f"seed {seed} {strategy} ({how} selection): {row['rows']} rows, "
                f"loss {row['first_loss']:.3f} -> "
                f"{row['final_loss']:.3f}, {row['tokens_per_s']:.0f} tok/s, MT-Bench NLL delta "
                f"{row['mt_bench_delta']:+.4f}, hold-out NLL delta {row['holdout_delta']:+.4f}, "
                f"{row['seconds']:.0f} s"
            )

    comparison = dg.materialize([strategy_comparison], resources=resources)
    table = comparison.asset_materializations_for_node("strategy_comparison")[0].metadata["comparison"].value
    print("\nstrategy_comparison (last seed):\n" + table)
    print(
        f"\nbase model: MT-Bench reference NLL {base[('base', 'mt_bench')]:.4f}, "
        f"hold-out NLL {base[('base', 'pool_holdout')]:.4f} (nats/token)"
    )
    print("NLL change vs base, mean ± sd over seeds (negative = reference answers more likely):")
    print("| strategy | seeds | MT-Bench Δ | hold-out Δ | final train loss |")
    print("|---|---|---|---|---|")
    for strategy, rows in results.items():

        def stat(name: str, rows: list[dict[str, float]] = rows) -> str:
            values = [r[name] for r in rows]
            spread = statistics.stdev(values) if len(values) > 1 else float("nan")
            return f"{statistics.mean(values):+.4f} ± {spread:.4f}"

        print(
            f"| {strategy} | {len(rows)} | {stat('mt_bench_delta')} | {stat('holdout_delta')} | "
            f"{statistics.mean(r['final_loss'] for r in rows):.3f} |"
        )


if __name__ == "__main__":
    main()
