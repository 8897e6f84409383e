"""Scale-out: the same per-shard stage over 16 shards on 1, then 2 celery workers (one thread each).

    PYTHONPATH=$PWD python benchmarks/scale_out.py [--shards 16] [--rows-per-shard 100] [--workers 1,2]

Stage: pool_embeddings (the bundled MiniLM, CPU), the per-shard stage whose cost is compute, not I/O.
Rows: the first shards × rows-per-shard Alpaca rows of ../shared/data (or --data FILE), one inbox
file per shard. For each worker count: a fresh data home, redis + N workers from scripts/scale_out/
on 127.0.0.1, raw_pool fanned out first (untimed; it also warms the workers' imports), an untimed
`scale_pool_embeddings` run over small warm-up shards (so every worker has loaded the model), then
the timed run over the measured shards. Two times per run: wall (the `dagster job execute` process,
run-coordinator start included) and run (Dagster's RUN_START to RUN_SUCCESS). Reference: every
shard materialized one partition at a time in this process on one torch thread; every fan-out's
tables must equal it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


WARM_ROWS = 10


def write_inbox(
    inbox: Path, records: list[dict], shards: int, per_shard: int, warm: int
) -> tuple[list[str], list[str]]:
    """`shards` measured files and `warm` small warm-up files; returns both lists of shard keys."""
    from deita_assets.core.ingest import file_digest, shard_key

    inbox.mkdir(parents=True)
    keys: dict[str, list[str]] = {"part": [], "warm": []}
    sizes = [("part", per_shard)] * shards + [("warm", WARM_ROWS)] * warm
    start = 0
    for i, (kind, size) in enumerate(sizes):
        path = inbox / f"{kind}_{i:02d}.json"
        path.write_text(json.dumps(records[start : start + size]), encoding="utf-8")
        keys[kind].append(shard_key(path.name, file_digest(path)))
        start += size
    return keys["part"], keys["warm"]


def single_process(home: Path, timed: list[str]) -> tuple[dict, float]:
    """Reference tables and the embedding seconds of the `timed` shards, one partition at a time on
    one thread."""
    import dagster as dg
    import torch

    from deita_assets.app.scale_local import shard_tables
    from deita_assets.assets.embeddings import pool_embeddings
    from deita_assets.assets.ingest import raw_pool
    from deita_assets.orchestration.partitions import pool_shard
    from deita_assets.resources.embedder import EmbedderResource
    from deita_assets.resources.store import DuckDBStore

    torch.set_num_threads(1)
    os.environ["DEITA_HOME"] = str(home)
    from deita_assets.core.ingest import file_digest, shard_key

    keys = [shard_key(p.name, file_digest(p)) for p in sorted((home / "inbox").iterdir())]
    store = DuckDBStore(root=str(home / "store"))
    resources = {"store": store, "embedder": EmbedderResource()}
    EmbedderResource().load()  # as warm as a worker after its first step
    seconds = 0.0
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(pool_shard.name, keys)
        for asset in (raw_pool, pool_embeddings):
            started = time.perf_counter()
            for key in keys:
                assert dg.materialize(
                    [asset], partition_key=key, instance=instance, resources=resources
                ).success
            seconds = time.perf_counter() - started
    return shard_tables(home / "store"), seconds


def run_seconds(cluster) -> float:
    """RUN_START to the end of the latest scale_pool_embeddings run, from the cluster's instance."""
    import dagster as dg

    os.environ.update({k: cluster.env[k] for k in ("DAGSTER_HOME", "DAGSTER_STORAGE_DIR")})
    with dg.DagsterInstance.from_config(cluster.env["DAGSTER_HOME"]) as instance:
        run = instance.get_runs(filters=dg.RunsFilter(job_name="scale_pool_embeddings"), limit=1)[0]
        stats = instance.get_run_stats(run.run_id)
        return stats.end_time - stats.start_time


def fan_out(home: Path, workers: int, timed: list[str], warm: list[str]) -> tuple[dict, float, float]:
    """Ingest, warm every worker up (imports, model load) on the small shards, then the timed run."""
    from deita_assets.app.scale_local import LocalCluster, shard_tables

    with LocalCluster(home, workers) as cluster:
        cluster.run_job("scale_raw_pool", register_inbox=True)
        cluster.run_job("scale_pool_embeddings", warm)
        wall = cluster.run_job("scale_pool_embeddings", timed)
        return shard_tables(home / "store"), wall, run_seconds(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--rows-per-shard", type=int, default=100)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts, in order")
    shared = Path(os.environ.get("DEITA_SHARED_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=shared / "alpaca" / "alpaca_5000.json")
    args = parser.parse_args()
    from deita_assets.app.scale_local import redis_available

    if not redis_available():
        sys.exit("redis-server is not installed (scripts/setup.sh installs it as root)")
    records = json.loads(args.data.read_text())
    workers = [int(n) for n in args.workers.split(",")]
    rows = args.shards * args.rows_per_shard
    if len(records) < rows + 2 * max(workers) * WARM_ROWS:
        sys.exit(f"{args.data} has {len(records)} rows, fewer than {rows}")
    base = Path(tempfile.mkdtemp(prefix="scale_out_"))
    try:
        # Warm-up shards: twice the workers, so every worker very likely takes one (and loads the model).
        timed, warm = write_inbox(base / "inbox", records, args.shards, args.rows_per_shard, 2 * max(workers))
        homes = {}
        for name in ["single", *map(str, workers)]:
            homes[name] = base / f"home_{name}"
            shutil.copytree(base / "inbox", homes[name] / "inbox")
        print(
            f"{args.shards} shards × {args.rows_per_shard} rows = {rows} rows, pool_embeddings, "
            f"load {os.getloadavg()}"
        )
        expected, single_seconds = single_process(homes["single"], timed)
        rows = sum(row[0] in timed for row in expected["pool_embeddings"])  # kept rows (duplicates: none)
        print(f"single process, 1 thread: {single_seconds:.1f} s embed, {rows / single_seconds:.1f} rows/s")
        results = {}
        for n in workers:
            tables, wall, run = fan_out(homes[str(n)], n, timed, warm)
            results[n] = (wall, run)
            same = tables == expected
            print(
                f"{n} worker(s): wall {wall:.1f} s ({rows / wall:.1f} rows/s), run {run:.1f} s "
                f"({rows / run:.1f} rows/s), tables identical to single process: {same}, "
                f"load {os.getloadavg()}"
            )
            if not same:
                sys.exit("fan-out tables differ from the single-process run")
        if 1 in results and 2 in results:
            (wall1, run1), (wall2, run2) = results[1], results[2]
            print(f"ratio 2 vs 1 worker: wall {wall1 / wall2:.2f}×, run {run1 / run2:.2f}×")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
