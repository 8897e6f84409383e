"""Stage: one sentence embedding per pool row (per shard), the input of the Repr Filter.

Re-embedding rule: a row is re-embedded only when its embedding *spec* changes — model, text mode,
E5 prefix, max sequence length (`EmbedderResource.spec()`), the things that change the vectors.
Batch size, device, a rerun, a new scorer: nothing is recomputed (rows whose row id — a content hash —
and spec are already stored are copied over, and the model is not even loaded). The asset returns a
data version derived from (spec, row ids), so downstream selection only goes stale when the vectors
actually changed. The code version is bumped only if the embedding code itself changes.
"""

import hashlib
import time

import dagster as dg
import numpy as np
import pyarrow as pa

from deita_assets.automation import PER_SHARD
from deita_assets.core.embedding import embedding_text
from deita_assets.partitions import pool_shard
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.store import DuckDBStore

EMBEDDING_CODE_VERSION = "1"


def vectors_to_arrow(vectors: np.ndarray) -> pa.ListArray:
    """n × d float32 -> Arrow list<float> (DuckDB FLOAT[]) without a per-row Python loop."""
    n, dim = vectors.shape
    offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(vectors, np.float32).ravel()))


def embedding_rows(
    shards: list[str], row_ids: list[str], vectors: np.ndarray, truncated: np.ndarray, model: str, spec: str
) -> pa.Table:
    """Rows of `pool_embeddings` (vectors: n × d float32, unit rows)."""
    n = len(row_ids)
    return pa.table(
        {
            "shard": pa.array(shards, pa.string()),
            "row_id": pa.array(row_ids, pa.string()),
            "model": pa.array([model] * n, pa.string()),
            "spec": pa.array([spec] * n, pa.string()),
            "dim": pa.array(np.full(n, vectors.shape[1] if n else 0, dtype=np.int32)),
            "truncated": pa.array(np.asarray(truncated, dtype=bool)),
            "embedding": vectors_to_arrow(vectors.reshape(n, -1) if n else np.zeros((0, 1), np.float32)),
        }
    )


def data_version(spec: str, row_ids: list[str]) -> str:
    digest = hashlib.sha256(spec.encode())
    for row_id in sorted(row_ids):
        digest.update(row_id.encode())
    return digest.hexdigest()[:16]


@dg.asset(
    partitions_def=pool_shard,
    deps=["raw_pool"],
    group_name="selection",
    kinds={"duckdb", "pytorch"},
    code_version=EMBEDDING_CODE_VERSION,
    automation_condition=PER_SHARD,
)
def pool_embeddings(
    context: dg.AssetExecutionContext, store: DuckDBStore, embedder: EmbedderResource
) -> dg.MaterializeResult:
    """L2-normalized sentence embeddings of every pool row of the shard (FLOAT[d] + model + dim).

    Why: the Repr Filter keeps a row only if it is not a near-duplicate (cosine > τ) of a row already
    kept; that needs one vector per row. Rows already embedded with the same spec are reused, so only
    a model (or text) change re-embeds — see the module docstring.
    """
    shard, spec = context.partition_key, embedder.spec()
    pool_rows = store.fetch_arrow("select_pool_turns_for_shard", [shard]).to_pylist()
    stored = store.fetch_arrow("select_embeddings_for_shard", [shard, spec])
    wanted = {row["row_id"] for row in pool_rows}
    reuse = stored.filter(pa.array([r in wanted for r in stored.column("row_id").to_pylist()], pa.bool_()))
    have = set(reuse.column("row_id").to_pylist())
    todo = [row for row in pool_rows if row["row_id"] not in have]
    started = time.perf_counter()
    if todo:
        texts = [embedding_text(row["turns"], embedder.text_mode) for row in todo]
        vectors, truncated = embedder.embed(texts)
    else:
        vectors, truncated = np.zeros((0, 1), np.float32), np.zeros(0, bool)
    seconds = time.perf_counter() - started
    fresh = embedding_rows(
        [shard] * len(todo), [row["row_id"] for row in todo], vectors, truncated, embedder.model, spec
    )
    table = (
        pa.concat_tables([reuse.select(fresh.column_names), fresh.cast(reuse.schema)])
        if len(reuse)
        else fresh
    )
    store.replace_partition("pool_embeddings", "delete_pool_embeddings_shard", [shard], table)
    n_truncated = int(np.sum(table.column("truncated").to_numpy(zero_copy_only=False)))
    dims = sorted(set(table.column("dim").to_pylist()))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.num_rows,
            "embedded_now": len(todo),
            "reused_same_spec": len(reuse),
            "truncated_rows": n_truncated,
            "truncated_share": n_truncated / max(table.num_rows, 1),
            "model": embedder.model,
            "spec": spec,
            "dim": dims[0] if len(dims) == 1 else str(dims),
            "embed_seconds": seconds,
            "rows_per_second": len(todo) / seconds if todo and seconds > 0 else 0.0,
        },
        data_version=dg.DataVersion(data_version(spec, sorted(wanted))),
    )
