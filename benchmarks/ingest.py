"""Ingest every pool file of ../shared/data through the asset's code path; print rows/s and seconds.

Usage: python benchmarks/ingest.py [DATA_DIR]   (default ../shared/data; target: < 60 s on 2 cores)

The folder is first put into a fresh inbox exactly as `python -m deita_assets ingest` does (bundling
folders of many files, skipping eval/), then each inbox file is one shard written by `ingest_shard`,
the function the `raw_pool` asset runs. Read/normalize time and DuckDB write time are shown apart.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

from deita_assets.assets.ingest import write_shard
from deita_assets.core.inbox import execute_plan, plan_inbox
from deita_assets.core.ingest import file_digest, ingest_file, is_data_file, shard_key
from deita_assets.resources.store import DuckDBStore


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
        execute_plan(plan_inbox([data]), inbox)
        copy_seconds = time.perf_counter() - started
        store = DuckDBStore(database=str(Path(tmp) / "bench.duckdb"))
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


if __name__ == "__main__":
    main()
