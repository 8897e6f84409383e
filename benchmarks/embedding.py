"""Embedding throughput: the asset's path vs raw SentenceTransformer.encode, same texts, same run.

    PYTHONPATH=$PWD python benchmarks/embedding.py [--rows 1024] [--repeats 3]

Texts: the first `rows` Alpaca rows of ../shared/data, ingested as one shard and rendered as the
asset renders them (whole conversation). Measured, interleaved to share the machine's noise:
- raw: `model.encode(texts, batch_size=32, normalize_embeddings=True)` on the already-loaded model;
- embed(): `EmbedderResource.embed(texts)` — what the asset calls (adds the truncation count);
- asset: a full `dg.materialize` of pool_embeddings for the shard (DuckDB read + write, Dagster run),
  with the model already loaded in this process; stored rows are deleted first so it re-embeds.
Ratios are throughput / raw throughput (target ≥ 0.9).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
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
    from deita_assets.partitions import pool_shard
    from deita_assets.resources.embedder import EmbedderResource
    from deita_assets.resources.store import DuckDBStore
    from deita_assets.sql import load_sql_for_dim

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
            with store.get_connection() as conn:
                for (dim,) in conn.execute("SELECT DISTINCT dim FROM pool_embeddings").fetchall():
                    conn.execute(load_sql_for_dim("vectors_delete_all", dim))
                conn.execute("DELETE FROM pool_embeddings")
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


if __name__ == "__main__":
    main()
