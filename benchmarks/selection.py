"""Repr Filter benchmark: the blocked filter next to the sequential oracle, same data, same run.

    PYTHONPATH=$PWD python benchmarks/selection.py [--oracle-cap 600] [--skip-2m | --only-2m] [--repeat 1]
        [--n 300000]

Cases (all d = 768 float32 unit rows, m = 10K, τ = 0.9, scores independent of clusters):
1. "clustered": 300K rows, 20% of them in near-duplicate clusters of ~10.
2. "heavy duplication": 300K rows, half of them near-duplicates (clusters of ~100).
   For both: blocked-filter time (first call incl. kernel compilation, and a second call), peak
   memory beyond the embeddings (VmHWM reset after loading), the sequential float64 oracle on the
   same order (time-capped; the comparison covers every row it examined), and their ratio.
3. "2M streamed": 2M rows stored in DuckDB (project schema, built once and cached under
   /tmp/deita_bench), the streaming selection in a subprocess (time and peak RSS of that whole
   process); then the oracle re-walks the examined rows (read back from DuckDB) to confirm the result.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import synthetic

from deita_assets.core.selection import repr_filter
from deita_assets_tests.support.selection_oracle import sequential_repr_filter

CACHE = Path(os.environ.get("DEITA_BENCH_CACHE", "/tmp/deita_bench"))
DIM, BUDGET, TAU = 768, 10_000, 0.9
MODEL_2M = "synthetic-768"


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> int:
    """Reset the kernel's peak-RSS counter (VmHWM) and return the current RSS in kB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


def _pool(name: str, n: int, dup_fraction: float, cluster_size: float, seed: int) -> np.ndarray:
    path = CACHE / f"pool_{name}_{n}_{DIM}.npy"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, synthetic.pool(n, DIM, dup_fraction=dup_fraction, cluster_size=cluster_size, seed=seed))
        tmp.rename(path)
    return np.load(path)


def in_memory_case(name: str, n: int, dup_fraction: float, cluster_size: float, oracle_cap: float) -> dict:
    embeddings = _pool(name, n, dup_fraction, cluster_size, seed=0 if name == "clustered" else 1)
    scores = synthetic.scores(n, 0)
    order = np.lexsort((np.arange(n), -scores))  # score desc, ties by position
    row: dict = {"case": name, "rows": n}
    base = _reset_peak()
    start = time.perf_counter()
    first = repr_filter(embeddings, order, budget=BUDGET, tau=TAU)
    row["blocked_first_s"] = time.perf_counter() - start
    row["blocked_peak_mb"] = (_status_kb("VmHWM") - base) / 1024
    start = time.perf_counter()
    again = repr_filter(embeddings, order, budget=BUDGET, tau=TAU)
    row["blocked_s"] = time.perf_counter() - start
    assert np.array_equal(first.kept_ids, again.kept_ids), "blocked filter not deterministic"
    row.update(kept=first.n_kept, examined=len(first.examined_ids), shortfall=first.shortfall)

    base = _reset_peak()
    start = time.perf_counter()
    oracle = sequential_repr_filter(embeddings, order, budget=BUDGET, tau=TAU, time_cap=oracle_cap)
    row["oracle_s"] = time.perf_counter() - start
    row["oracle_peak_mb"] = (_status_kb("VmHWM") - base) / 1024
    row["oracle_finished"] = oracle.finished
    row["oracle_examined"] = len(oracle.examined_ids)
    seen = len(oracle.examined_ids)
    row["same_result"] = (
        first.examined_ids[:seen].tolist() == oracle.examined_ids
        and first.examined_kept[:seen].tolist() == oracle.examined_kept
        and bool(np.allclose(first.nearest_sims[:seen], oracle.nearest_sims, atol=1e-12, equal_nan=True))
    )
    # the oracle's cost grows with the kept set: a capped run is a lower bound on its full time
    row["speedup"] = row["oracle_s"] / row["blocked_s"]
    return row


def stream_child(root: str, out_prefix: str) -> None:
    """Subprocess body: the whole streaming selection, then print time and this process's peak RSS."""
    from deita_assets.resources.store import DuckDBStore
    from deita_assets.storage.selection_io import stream_repr_filter

    start = time.perf_counter()
    with DuckDBStore(root=root).get_connection() as conn:
        walk = stream_repr_filter(conn, spec=MODEL_2M, dim=DIM, budget=BUDGET, tau=TAU, by_score=True)
    seconds = time.perf_counter() - start
    outcome = walk.outcome
    np.save(out_prefix + "_examined.npy", outcome.examined_ids)
    np.save(out_prefix + "_kept.npy", outcome.examined_kept)
    np.save(out_prefix + "_sims.npy", outcome.nearest_sims)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": _status_kb("VmHWM") / 1024,
                "kept": outcome.n_kept,
                "examined": len(outcome.examined_ids),
                "candidates": walk.candidates,
                "rows_fetched": walk.rows_fetched,
                "windows": walk.windows,
                "phase_seconds": {k: round(v, 2) for k, v in walk.seconds.items()},
            }
        )
    )


def streamed_case(oracle_cap: float) -> dict:
    from deita_assets.resources.store import SCHEMA_VERSION

    database = CACHE / f"pool_2m_{DIM}_v{SCHEMA_VERSION}"  # a store folder, rebuilt when the schema changes
    if not database.exists():
        print("building the 2M-row pool store (once, ~8 min) ...", flush=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = database.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        synthetic.build_duckdb_pool(
            str(tmp), 2_000_000, DIM, dup_fraction=0.2, cluster_size=10, seed=2, model=MODEL_2M
        )
        tmp.rename(database)
    prefix = str(CACHE / "stream_2m")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, __file__, "--stream-child", str(database), prefix],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    row = {"case": "2M streamed from DuckDB", **json.loads(done.stdout.strip().splitlines()[-1])}
    row.update(_verify_stream(database, prefix, oracle_cap))
    return row


def _verify_stream(database: Path, prefix: str, oracle_cap: float) -> dict:
    """Oracle over the examined rows (walk positions -> rows re-read from DuckDB in walk order)."""
    from deita_assets.resources.store import DuckDBStore
    from deita_assets.storage.selection_io import fetch_window, walk_order

    examined = np.load(prefix + "_examined.npy")
    with DuckDBStore(root=str(database)).get_connection() as conn:
        conn.execute("SET memory_limit = '512MB'")
        order, _ = walk_order(conn, MODEL_2M, DIM, by_score=True, seed=0)
        vectors, _ = fetch_window(conn, order[examined], DIM)
    oracle = sequential_repr_filter(
        vectors, np.arange(len(examined)), budget=BUDGET, tau=TAU, time_cap=oracle_cap
    )
    seen = len(oracle.examined_ids)
    same = (
        np.load(prefix + "_kept.npy")[:seen].tolist() == oracle.examined_kept
        and bool(np.allclose(np.load(prefix + "_sims.npy")[:seen], oracle.nearest_sims, equal_nan=True))
        and oracle.examined_ids == list(range(seen))
    )
    return {"oracle_examined": seen, "oracle_finished": oracle.finished, "same_result": same}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stream-child", nargs=2, metavar=("DATABASE", "OUT_PREFIX"))
    parser.add_argument("--oracle-cap", type=float, default=600.0, help="seconds per oracle run")
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--skip-2m", action="store_true")
    parser.add_argument("--only-2m", action="store_true", help="just the 2M streamed case")
    parser.add_argument("--repeat", type=int, default=1, help="run each case this many times")
    args = parser.parse_args()
    if args.stream_child:
        stream_child(*args.stream_child)
        return
    import torch

    print(f"cores={os.cpu_count()} torch_threads={torch.get_num_threads()} load={os.getloadavg()}")
    rows = []
    for _ in range(args.repeat):
        if not args.only_2m:
            for name, dup, cluster in (("clustered", 0.2, 10), ("heavy_duplication", 0.5, 100)):
                rows.append(in_memory_case(name, args.n, dup, cluster, args.oracle_cap))
                print(json.dumps(rows[-1]), flush=True)
        if not args.skip_2m:
            rows.append(streamed_case(args.oracle_cap))
            print(json.dumps(rows[-1]), flush=True)
    print(f"load after: {os.getloadavg()}")
    print(
        "\n| case | kept | examined | blocked s (first call) | peak MB | oracle s | oracle rows | same | x |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['kept']} | {r['examined']} | "
            f"{r.get('blocked_s', r.get('seconds', 0)):.2f} ({r.get('blocked_first_s', float('nan')):.2f}) | "
            f"{r.get('blocked_peak_mb', r.get('peak_rss_mb', 0)):.0f} | "
            f"{r.get('oracle_s', float('nan')):.1f} | "
            f"{r['oracle_examined']}{'' if r['oracle_finished'] else ' (capped)'} | {r['same_result']} | "
            f"{r.get('speedup', float('nan')):.0f}x |"
        )


if __name__ == "__main__":
    main()
