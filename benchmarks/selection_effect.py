"""Does the selection train a better model? Strategies side by side at an equal demo budget.

Usage: python benchmarks/selection_effect.py [--data ../shared/data] [--pool-size 3000] [--budget 200]
       [--steps 25] [--seeds 0,1] [--strategies deita,random,longest_response] [--judge-questions 0]
       [--evol-seeds 32] [--evol-rounds 5] [--scorer-epochs 1] [--scorer-max-steps N]
       [--pool-scorer embedding_head|lm] [--ifd-max-length 256]

Pipeline, every step through the project's own code and real assets:
1. ingest every pool file of the data folder exactly as `raw_pool` does (inbox plan + ingest_shard),
   then keep a seeded uniform sample of --pool-size rows as the demo pool (the full ~90K-row pool
   cannot be scored and embedded on 2 CPU cores in a benchmark);
2. `eval_holdout` (real asset): MT-Bench prompts + a held-out split of LIMA/GPTeacher rows;
3. for deita, its whole upstream as real assets on an ephemeral instance where the demo pool's shards
   are registered as `pool_shard` partitions: evol_seed → evolved_variants[dimension] →
   ranked_scores[dimension] (the llm resource: offline, the bundled SmolLM2-135M labels the variants)
   → scorer_model[dimension] → pool_embeddings and pool_scores for every shard; wall times, label
   quality, scorer dev metrics and scored/failed pool rows are printed;
   the same upstream serves every strategy that reads pool_scores (deita's evol score, the IFD of
   superfilter / superfilter_diverse; IFD is computed only when one of those is chosen);
   then per strategy and seed: `selected_subset` (the seed draws random's subset and every training
   order); if the upstream failed, the strategies reading it are skipped (said);
4. `finetuned_model` (real asset) with the same steps x batch for every strategy (equal compute and
   equal row budget), then `base_model_evaluation` and `model_evaluation` (real assets): reference
   NLL of MT-Bench GPT-4 answers and of the held-out rows; the judge only with --judge-questions > 0;
5. `strategy_comparison` (real asset) and a table of NLL deltas vs the base model, mean ± sd over seeds,
   with each strategy's gap to random and to longest_response in nats and in units of random's sd
   (a gap below one sd of random is not told apart from the choice of random subset).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg
from benchmark_sql import benchmark_rows

from deita_assets.assets.evaluation import (
    base_model_evaluation,
    eval_holdout,
    model_evaluation,
    strategy_comparison,
)
from deita_assets.assets.ingest import write_shard
from deita_assets.assets.pool_scores import DIMENSIONS
from deita_assets.assets.training import finetuned_model
from deita_assets.core.inbox import copy_into_inbox, plan_inbox, scan_inbox
from deita_assets.core.ingest import ingest_file
from deita_assets.core.strategies import reads_ifd, strategy_of
from deita_assets.orchestration.partitions import pool_shard
from deita_assets.resources.scorers import ScorersResource
from deita_assets.resources.store import DuckDBStore, table_schema
from deita_assets.resources.trainer import TrainerResource


def build_demo_pool(store: DuckDBStore, data: Path, inbox: Path, size: int, seed: int) -> dict[str, Any]:
    """Real ingestion of every pool file, then only a seeded uniform sample of `size` rows written
    (each shard commits its sampled rows, so the demo pool is exactly the sample)."""
    started = time.perf_counter()
    copy_into_inbox(plan_inbox([data]), inbox)
    new, _ = scan_inbox(inbox, {}, set(), settle_seconds=0, now=time.time())
    results = {key: ingest_file(path) for key, path in new}
    row_ids = sorted({k.row_id for result in results.values() for k in result.kept})
    keep = set(random.Random(seed).sample(row_ids, min(size, len(row_ids))))
    for key, result in results.items():
        write_shard(store, key, replace(result, kept=[k for k in result.kept if k.row_id in keep]))
    sources = benchmark_rows(store, "select_pool_source_counts")
    return {
        "ingested_rows": len(row_ids),
        "demo_rows": len(keep),
        "shards": len(new),
        "seconds": time.perf_counter() - started,
        "sources": {s["source"]: s["n"] for s in sources},
    }


def materialize_one(
    defs: dg.Definitions,
    resources: dict,
    instance: dg.DagsterInstance | None,
    name: str,
    partition: str | None = None,
    config: dict | None = None,
) -> tuple[dict[str, Any], float]:
    """One real asset run (one partition): its materialization metadata and wall seconds."""
    (asset,) = [a for a in defs.assets if dg.AssetKey(name) in a.keys]
    started = time.perf_counter()
    result = dg.materialize(
        [asset],
        partition_key=partition,
        resources=resources,
        instance=instance,
        run_config={"ops": {name: {"config": config}}} if config else None,
        raise_on_error=False,
    )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_failure), None)
        detail = (
            failure.event_specific_data.error.message.strip()
            if failure and failure.event_specific_data
            else ""
        )
        raise RuntimeError(f"{name}[{partition}] failed: {detail}")
    meta = result.asset_materializations_for_node(name)[0].metadata
    return {k: v.value for k, v in meta.items()}, time.perf_counter() - started


def _per_dimension(
    run: Any, phases: dict[str, float], name: str, config: dict | None = None
) -> dict[str, dict[str, Any]]:
    out = {}
    for dim in DIMENSIONS:
        out[dim], seconds = run(name, dim, config)
        phases[name] = phases.get(name, 0.0) + seconds
    return out


def deita_upstream(
    defs: dg.Definitions, resources: dict, store: DuckDBStore, args: argparse.Namespace
) -> dict[str, float]:
    """evol_seed → evolved_variants → ranked_scores → scorer_model → pool_embeddings, pool_scores:
    every step the real asset; prints what each produced and returns wall seconds per asset."""
    shards = [r["shard"] for r in benchmark_rows(store, "select_pool_shards")]
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(pool_shard.name, shards)

    def run(name: str, partition: str | None = None, config: dict | None = None):
        return materialize_one(defs, resources, instance, name, partition, config)

    phases: dict[str, float] = {}
    seed, phases["evol_seed"] = run("evol_seed", config={"size": args.evol_seeds})
    print(
        f"evol_seed: {seed['dagster/row_count']} of {args.evol_seeds} seeds "
        f"({seed['eligible_rows']} eligible rows)"
    )
    evol_config = {"rounds": args.evol_rounds, "max_tokens_cap": args.evol_max_tokens}
    for dim, meta in _per_dimension(run, phases, "evolved_variants", evol_config).items():
        print(
            f"evolved_variants[{dim}]: {meta['dagster/row_count']} rows, degenerate "
            f"{meta['degenerate_rate']:.0%}, failed {meta['failed_rate']:.0%} of rewrites; "
            f"{meta['llm_model']} via {meta['llm_backend']}: {meta['llm_http_requests']} HTTP requests, "
            f"{meta['llm_completion_tokens']} tokens generated, {meta['llm_failed']} failed"
        )
    labels = _per_dimension(run, phases, "ranked_scores")
    for dim, meta in labels.items():
        print(
            f"ranked_scores[{dim}]: {meta['scored_seeds']} seeds scored, {meta['failed_seeds']} failed; "
            f"Spearman round vs LLM score {_fmt(meta['spearman_round_vs_score'])} "
            "(the paper's evolution should raise the score with the round)"
        )
    scorer_config: dict[str, Any] = {"epochs": args.scorer_epochs}
    if args.scorer_max_steps:
        scorer_config["max_steps"] = args.scorer_max_steps
    scorer_metas = _per_dimension(run, phases, "scorer_model", scorer_config)
    for dim, meta in scorer_metas.items():
        print(
            f"scorer_model[{dim}]: {meta['n_train']} train / {meta['n_dev']} dev variants "
            f"({meta['train_seeds']} / {meta['dev_seeds']} seeds), LM scorer trained in "
            f"{meta['train_seconds']:.0f} s; "
            f"dev metrics vs the LLM labels:\n{meta['dev_metrics']}"
        )
    for name in ("pool_embeddings", "pool_scores"):
        metas = []
        for shard in shards:
            meta, seconds = run(name, shard)
            metas.append(meta)
            phases[name] = phases.get(name, 0.0) + seconds
        if name == "pool_scores":
            print(pool_scores_summary(store, resources, metas, phases[name]))
            print(ifd_summary(store, resources["scorers"], metas))
    ladders = sum(m["scored_seeds"] for m in labels.values())
    n_dev = {dim: m["n_dev"] for dim, m in scorer_metas.items()}
    print(meaning_of_deita_row(store, resources, ladders, n_dev))
    print("deita upstream wall times: " + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()))
    return phases


def pool_scores_summary(store: DuckDBStore, resources: dict, metas: list[dict], seconds: float) -> str:
    """Rows scored ok / failed (with reasons) over all shards, read from the table: skipped shards too."""
    status = store.fetch_arrow("select_pool_scores_status").to_pylist()
    ok = sum(r["n"] for r in status if r["status"] == "ok")
    failed = [f"{r['n']} {r['failure_reason']}" for r in status if r["status"] != "ok"]
    recomputed = sum(bool(m["recomputed"]) for m in metas)
    return (
        f"pool_scores ({resources['scorers'].pool_kind} scorer): {ok} rows scored ok, "
        f"{sum(r['n'] for r in status) - ok} failed{': ' + '; '.join(failed) if failed else ''}; "
        f"{recomputed} of {len(metas)} shards recomputed (the others' rows and scorers were unchanged), "
        f"{seconds:.0f} s"
    )


def ifd_summary(store: DuckDBStore, scorers: ScorersResource, metas: list[dict]) -> str:
    """What the superfilter strategies can pick from: rows with IFD < 1, and why the others cannot."""
    if scorers.ifd_model is None:
        return "IFD: skipped (no chosen strategy orders by it)"
    excluded = Counter(r["ifd_excluded"] for r in store.fetch_arrow("select_selection_pool").to_pylist())
    rates = [m["ifd_rows_per_second"] for m in metas if m.get("ifd_rows_per_second")]
    speed = f", {statistics.mean(rates):.2f} rows/s per recomputed shard" if rates else ""
    others = ", ".join(f"{n} {reason}" for reason, n in excluded.items() if reason is not None)
    return (
        f"IFD ({scorers.ifd_model}, {scorers.ifd_max_length} tokens per sequence): {excluded[None]} "
        f"selectable rows have IFD < 1; not eligible: {others or 'none'}{speed}"
    )


def _fmt(value: Any) -> str:
    return f"{value:+.2f}" if isinstance(value, float) else str(value)


def meaning_of_deita_row(
    store: DuckDBStore, resources: dict, ladders: int, n_dev: dict[str, int], floor: float = 0.3
) -> str:
    """How far the deita row can be read as DEITA's effect: who labelled, how well the scorer agrees."""
    llm, kind = resources["llm"], resources["scorers"].pool_kind
    kinds = ("lm", "pretrained") if kind == "lm" else (kind,)
    dev = {
        r["dimension"]: r["dev_spearman"]
        for r in store.fetch_arrow("select_scorer_eval").to_pylist()
        if r["scorer_kind"] in kinds
    }
    labeller = (
        f"the offline local server on {llm.model} (a 135M model: weak labels)"
        if llm.base_url is None
        else f"{llm.model} at {llm.backend_label or 'the configured endpoint'}"
    )
    weak = [d for d, v in dev.items() if v is None or v < floor]
    verdict = (
        f"below {floor} for {weak}: the evol score is close to noise there, so deita is mostly the Repr "
        "Filter over a weakly ordered pool — machinery, not evidence for or against DEITA"
        if weak
        else f"at or above {floor} in both dimensions: the order carries the labeller's judgement"
    )
    spearman = ", ".join(f"{d} {_fmt(v)} on {n_dev[d]} dev variants" for d, v in sorted(dev.items()))
    return (
        f"how much the deita row can mean: pool scored by the {kind} scorer trained on {ladders} ranked "
        f"variant ladders labelled by {labeller}; its dev Spearman vs those labels: {spearman}; {verdict}"
    )


def evaluation_rows(store: DuckDBStore) -> dict[tuple[str, str], float]:
    return {
        (r["strategy"], r["benchmark"]): r["value"]
        for r in store.fetch_arrow("select_evaluation").to_pylist()
        if r["metric"] == "reference_nll"
    }


def prepare(
    store: DuckDBStore, args: argparse.Namespace, home: Path, resources: dict, eval_config: dict
) -> None:
    """Demo pool, eval_holdout and the base model's evaluation: done once, shared by every seed."""
    pool = build_demo_pool(store, args.data, home / "inbox", args.pool_size, seed=0)
    print(
        f"pool: {pool['ingested_rows']} rows ingested from {pool['shards']} shards in {pool['seconds']:.0f} s"
    )
    print(f"demo pool {pool['demo_rows']} rows: {pool['sources']}")
    holdout = dg.materialize([eval_holdout], resources=resources)
    held = holdout.asset_materializations_for_node("eval_holdout")[0].metadata
    print(
        f"eval_holdout: {held['pool_holdout_rows'].value} pool rows held out, "
        f"{held['mt_bench_questions'].value} MT-Bench questions ({held['mt_bench_with_reference'].value} "
        f"with GPT-4 references), {held['pool_rows_repeating_mt_bench'].value} pool rows repeat one"
    )
    started = time.perf_counter()
    dg.materialize(
        [base_model_evaluation],
        resources=resources,
        run_config={"ops": {"base_model_evaluation": {"config": eval_config}}},
    )
    print(f"base model evaluated in {time.perf_counter() - started:.0f} s")


def select(defs: dg.Definitions, resources: dict, strategy: str, budget: int, seed: int) -> None:
    """The real selected_subset asset for one strategy (its upstream tables must already exist)."""
    config = {"budget": budget, "seed": seed, "export": False, "tau_sweep": False}
    materialize_one(defs, resources, None, "selected_subset", strategy, config)


def train_and_evaluate(resources: dict, strategy: str, args, seed: int, eval_config: dict) -> dict[str, Any]:
    train_config = {
        "max_steps": args.steps,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "learning_rate": args.learning_rate,
        "seed": seed,
        "bf16": args.bf16,
        "save_steps": max(args.steps // 2, 1),
    }
    started = time.perf_counter()
    run = dg.materialize(
        [finetuned_model, model_evaluation],
        resources=resources,
        partition_key=strategy,
        run_config={
            "ops": {"finetuned_model": {"config": train_config}, "model_evaluation": {"config": eval_config}}
        },
    )
    meta = run.asset_materializations_for_node("finetuned_model")[0].metadata
    nll = evaluation_rows(resources["store"])
    return {
        "rows": meta["dagster/row_count"].value,
        "selected": meta["rows_selected"].value,
        "dropped": meta["rows_dropped_no_assistant_tokens"].value,
        "first_loss": meta["first_loss"].value,
        "final_loss": meta["final_loss"].value,
        "tokens_per_s": meta["tokens_per_second"].value or 0.0,
        "train_s": meta["wall_seconds"].value,
        "mt_bench_delta": nll[(strategy, "mt_bench")] - nll[("base", "mt_bench")],
        "holdout_delta": nll[(strategy, "pool_holdout")] - nll[("base", "pool_holdout")],
        "seconds": time.perf_counter() - started,
    }


BENCHMARKS = {"mt_bench_delta": "MT-Bench", "holdout_delta": "hold-out"}


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None


def print_summary(results: dict[str, list[dict[str, Any]]], base: dict[tuple[str, str], float]) -> None:
    print(
        f"\nbase model: MT-Bench reference NLL {base[('base', 'mt_bench')]:.4f}, "
        f"hold-out NLL {base[('base', 'pool_holdout')]:.4f} (nats/token)"
    )
    print("NLL change vs base, mean ± sd over seeds (negative = reference answers more likely):")
    print("| strategy | seeds | MT-Bench Δ | hold-out Δ | final train loss | train s (mean) |")
    print("|---|---|---|---|---|---|")
    for strategy, rows in results.items():

        def stat(name: str, rows: list[dict[str, Any]] = rows) -> str:
            mean, sd = _mean_sd([r[name] for r in rows])
            return f"{mean:+.4f} ± {'n/a (1 seed)' if sd is None else f'{sd:.4f}'}"

        print(
            f"| {strategy} | {len(rows)} | {stat('mt_bench_delta')} | {stat('holdout_delta')} | "
            f"{statistics.mean(r['final_loss'] for r in rows):.3f} | "
            f"{statistics.mean(r['train_s'] for r in rows):.0f} |"
        )
    print_gaps(results)


def print_gaps(results: dict[str, list[dict[str, Any]]]) -> None:
    """Each strategy's mean minus random's and longest_response's, in nats and in random's sd: the
    spread random shows over seeds (subset and training order) is the noise floor of every gap."""
    refs = [r for r in ("random", "longest_response") if r in results]
    if "random" not in results or len(results["random"]) < 2:
        print("gaps: need random with ≥ 2 seeds for its spread")
        return
    for key, label in BENCHMARKS.items():
        means = {s: _mean_sd([r[key] for r in rows])[0] for s, rows in results.items()}
        sd = _mean_sd([r[key] for r in results["random"]])[1] or 0.0
        print(f"\n{label}: spread of random over {len(results['random'])} seeds: sd {sd:.4f} nats")
        print(f"| strategy | {' | '.join(f'vs {r} (nats, random sds)' for r in refs)} |")
        print(f"|---|{'---|' * len(refs)}")
        for strategy, mean in means.items():
            cells = []
            for ref in refs:
                gap = mean - means[ref]
                units = f"{gap / sd:+.1f}" if sd > 0 else "n/a"
                cells.append(f"{gap:+.4f} ({units})")
            print(f"| {strategy} | {' | '.join(cells)} |")


def random_overlap(kept: dict[int, set[str]]) -> str:
    """How far random's subsets differ between seeds (the seed must draw the subset, not only the order)."""
    seeds = sorted(kept)
    pairs = [(a, b) for i, a in enumerate(seeds) for b in seeds[i + 1 :]]
    shared = ", ".join(f"seeds {a}/{b} share {len(kept[a] & kept[b])}" for a, b in pairs)
    return f"random subsets of {len(kept[seeds[0]])} rows: {shared or 'one seed only'}"


def _scorers_with(scorers: ScorersResource, **overrides: Any) -> ScorersResource:
    """The configured scorers resource (env vars honoured) with the fields chosen on the command line."""
    fields = {f: getattr(scorers, f) for f in ScorersResource.model_fields if f not in overrides}
    return ScorersResource(**fields, **overrides)


def kept_ids(store: DuckDBStore, strategy: str) -> set[str]:
    return {r["row_id"] for r in store.fetch_arrow("select_training_rows", [strategy]).to_pylist()}


def main() -> None:
    default_data = os.environ.get(
        "DEITA_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--home", type=Path, default=None, help="DEITA_HOME to use (default: a temp dir)")
    parser.add_argument("--reuse-home", action="store_true", help="keep pool + base evaluation in --home")
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
    deita = parser.add_argument_group("deita upstream (evol labels, scorers, pool scores)")
    deita.add_argument("--evol-seeds", type=int, default=32, help="evol_seed size (paper: 2,000)")
    deita.add_argument("--evol-rounds", type=int, default=5, help="evolution rounds M per seed (paper: 5)")
    deita.add_argument("--evol-max-tokens", type=int, default=1024, help="cap on tokens per rewrite")
    deita.add_argument("--scorer-epochs", type=float, default=1.0, help="LM scorer epochs (paper: 6)")
    deita.add_argument("--scorer-max-steps", type=int, default=None, help="cap on LM scorer steps")
    deita.add_argument(
        "--pool-scorer",
        choices=["embedding_head", "lm"],
        default=os.environ.get("DEITA_POOL_SCORER", "embedding_head"),
        help="scorer kind for pool_scores: embedding_head (embedding speed) or lm (~12 rows/s/dimension)",
    )
    deita.add_argument(
        "--ifd-max-length", type=int, default=256, help="tokens per IFD sequence (resource default 512)"
    )
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"data folder {args.data} not found (pass --data or set DEITA_SHARED_DATA)")
    home = args.home or Path(tempfile.mkdtemp(prefix="selection_effect_"))
    os.environ["DEITA_HOME"] = str(home)
    from deita_assets.definitions import defs

    store = DuckDBStore(root=str(home / "store"))
    resources = {
        **defs.resources,
        "store": store,
        "trainer": TrainerResource(torch_threads=args.threads),
    }
    strategies = args.strategies.split(",")
    scorers = defs.resources.get("scorers", ScorersResource())
    resources["scorers"] = _scorers_with(
        scorers,
        pool_kind=args.pool_scorer,
        ifd_max_length=args.ifd_max_length,
        ifd_model=scorers.ifd_model if reads_ifd(strategies) else None,  # two passes per pair
    )
    print(f"home {home}; timings are noisy: the 2-core CPU is shared with other engineers")
    eval_config = {"judge_questions": args.judge_questions}
    if args.reuse_home and ("base", "mt_bench") in evaluation_rows(store):
        print("reusing the demo pool, eval_holdout and base evaluation already in --home")
    else:
        prepare(store, args, home, resources, eval_config)
    scored = [s for s in strategies if strategy_of(s).order in table_schema("pool_scores").names]
    if scored and args.reuse_home and store.fetch_arrow("select_pool_scores_status").num_rows:
        print(f"reusing pool_scores and pool_embeddings already in --home for {scored}")
        print(ifd_summary(store, resources["scorers"], []))
    elif scored:
        try:
            deita_upstream(defs, resources, store, args)
        except RuntimeError as error:
            print(f"deita upstream FAILED, {scored} are skipped: {error}")
            strategies = [s for s in strategies if s not in scored]

    results: dict[str, list[dict[str, Any]]] = {}
    random_kept: dict[int, set[str]] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for strategy in strategies:
            select(defs, resources, strategy, args.budget, seed)
            if strategy == "random":
                random_kept[seed] = kept_ids(store, strategy)
            row = train_and_evaluate(resources, strategy, args, seed, eval_config)
            results.setdefault(strategy, []).append(row)
            print(
                f"seed {seed} {strategy}: {row['selected']} selected, "
                f"{row['rows']} trained ({row['dropped']} had no assistant "
                f"token within max length), loss {row['first_loss']:.3f} "
                f"-> {row['final_loss']:.3f}, {row['tokens_per_s']:.0f} tok/s, MT-Bench NLL Δ "
                f"{row['mt_bench_delta']:+.4f}, hold-out NLL Δ {row['holdout_delta']:+.4f}, "
                f"train {row['train_s']:.0f} s, train+eval {row['seconds']:.0f} s",
                flush=True,
            )

    comparison = dg.materialize([strategy_comparison], resources=resources)
    meta = comparison.asset_materializations_for_node("strategy_comparison")[0].metadata
    print("\nstrategy_comparison (last seed):\n" + meta["comparison"].value)
    print(f"plot: {meta['plot_path'].value}")
    print_summary(results, evaluation_rows(store))
    if random_kept:
        print(random_overlap(random_kept))


if __name__ == "__main__":
    main()
