"""Ingest every pool file of ../shared/data through the asset's code path; print rows/s and seconds.

Usage: python benchmarks/ingest.py [DATA_DIR]   (default ../shared/data; target: < 60 s on 2 cores)

The folder is first put into a fresh inbox exactly as `python -m deita_assets ingest` does (bundling
folders of many files, skipping eval/), then each inbox file is one shard read by `ingest_file` and
written by `write_shard`, the two calls the `raw_pool` asset makes (timed apart). Then the same
shards are materialized again as real `raw_pool` runs (dg.materialize, one run per shard, fresh
database) to show the Dagster per-run overhead side by side.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from deita_assets.assets.ingest import raw_pool, write_shard
from deita_assets.core.inbox import copy_into_inbox, plan_inbox, scan_inbox
from deita_assets.core.ingest import file_digest, ingest_file, is_data_file, shard_key
from deita_assets.orchestration.partitions import pool_shard
from deita_assets.resources.store import DuckDBStore


def via_dagster(inbox: Path, database: Path) -> tuple[float, int]:
    """Seconds to materialize every inbox shard as a raw_pool run; and how many runs succeeded."""
    instance = dg.DagsterInstance.ephemeral()
    new, _ = scan_inbox(inbox, {}, set(), settle_seconds=0, now=time.time())
    keys = [key for key, _ in new]
    instance.add_dynamic_partitions(pool_shard.name, keys)
    store = DuckDBStore(root=str(database))
    config = {"ops": {"raw_pool": {"config": {"inbox": str(inbox)}}}}
    started = time.perf_counter()
    ok = sum(
        dg.materialize(
            [raw_pool], partition_key=key, instance=instance, resources={"store": store}, run_config=config
        ).success
        for key in keys
    )
    return time.perf_counter() - started, ok


def main() -> None:
    default = os.environ.get(
        "DEITA_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    data = Path(sys.argv[1] if len(sys.argv) > 1 else default)
    if not data.is_dir():
        sys.exit(f"data folder {data} not found (pass it as an argument or set DEITA_SHARED_DATA)")
    with tempfile.TemporaryDirectory() as tmp:
        inbox = Path(tmp) / "inbox"
        started = time.perf_counter()
        copy_into_inbox(plan_inbox([data]), inbox)
        copy_seconds = time.perf_counter() - started
        store = DuckDBStore(root=str(Path(tmp) / "store"))
        read_seconds = write_seconds = 0.0
        totals = {"rows_read": 0, "rows_kept": 0, "rows_quarantined": 0, "duplicates": 0}
        print(
            f"{'shard file':70s} {'read':>7s} {'kept':>7s} {'quar':>6s} {'dups':>6s}"
            f" {'read s':>7s} {'write s':>7s}"
        )
        for path in sorted(p for p in inbox.iterdir() if is_data_file(p)):
            t0 = time.perf_counter()
            digest = file_digest(path)
            result = ingest_file(path, digest=digest)
            t1 = time.perf_counter()
            counts = write_shard(store, shard_key(path.name, digest), result)
            t2 = time.perf_counter()
            read_seconds += t1 - t0
            write_seconds += t2 - t1
            dups = counts["duplicates_within_shard"] + counts["duplicates_across_shards"]
            totals["rows_read"] += counts["rows_read"]
            totals["rows_kept"] += counts["rows_kept"]
            totals["rows_quarantined"] += counts["rows_quarantined"]
            totals["duplicates"] += dups
            print(
                f"{path.name[:70]:70s} {counts['rows_read']:7d} {counts['rows_kept']:7d} "
                f"{counts['rows_quarantined']:6d} {dups:6d} {t1 - t0:7.2f} {t2 - t1:7.2f}"
            )
        total = copy_seconds + read_seconds + write_seconds
        print(f"\ntotals: {totals}")
        print(
            f"inbox copy/bundle: {copy_seconds:.2f} s   read+normalize: {read_seconds:.2f} s"
            f"   write: {write_seconds:.2f} s"
        )
        print(f"total: {total:.2f} s   {totals['rows_read'] / total:,.0f} rows/s (rows read)   target < 60 s")
        seconds, ok = via_dagster(inbox, Path(tmp) / "dagster_store")
        print(
            f"as raw_pool runs (dg.materialize, {ok} runs ok): {seconds:.2f} s"
            f"   {totals['rows_read'] / seconds:,.0f} rows/s   (+ inbox copy {copy_seconds:.2f} s)"
        )


if __name__ == "__main__":
    main()
