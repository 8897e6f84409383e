"""Stage: one sentence embedding per pool row (per shard), the input of the Repr Filter.

Re-embedding rule: a row is re-embedded only when its embedding *spec* changes — model, text mode,
E5 prefix, max sequence length (`EmbedderResource.spec()`), the things that change the vectors.
Batch size, device, a rerun, a new scorer: nothing is recomputed (rows whose row id — a content hash —
and spec are already stored stay in place, and the model is not even loaded). Rows of other specs stay
too (counted in metadata), so switching the embedder back re-embeds nothing. The asset returns a data
version derived from (spec, row ids), so downstream selection only goes stale when the vectors
actually changed. The code version is bumped only if the embedding code itself changes.

Failures (a remote backend's rows that failed after bounded retries, or a reply of the wrong width):
the rows that were embedded are stored, nothing is stored for the failed ones, and the run fails with
the count and the reasons — a selection never runs on a silently thinner pool.

Storage: `pool_embeddings` holds one row per (shard, row, spec) with model, dim and truncation; the
vectors go to `pool_vectors_<dim>` as fixed-width FLOAT[dim] (see sql/vectors_create_table.sql for
why), both written as one commit per (shard, spec): a rewrite keeps the stored
rows still in the shard, adds the new ones and replaces the partition's files.
"""

import hashlib
import time
from collections import Counter

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deita_assets.core.embedding import embedding_text
from deita_assets.core.report import counts_table
from deita_assets.orchestration.partitions import pool_shard
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.store import DuckDBStore
from deita_assets.storage.sql import load_sql, load_sql_for_dim, vectors_table

EMBEDDING_CODE_VERSION = "2"  # 2: vectors in fixed-width pool_vectors_<dim>


def vectors_to_arrow(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """n × d float32 -> Arrow fixed_size_list<float, d> (DuckDB FLOAT[d]) without a per-row loop."""
    flat = pa.array(np.ascontiguousarray(vectors, np.float32).ravel())
    return pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])


def embedding_rows(
    shards: list[str], row_ids: list[str], vectors: np.ndarray, truncated: np.ndarray, model: str, spec: str
) -> tuple[pa.Table, pa.Table]:
    """Rows of `pool_embeddings` and of `pool_vectors_<d>` (vectors: n × d float32, unit rows)."""
    n, dim = vectors.shape
    meta = pa.table(
        {
            "shard": pa.array(shards, pa.string()),
            "row_id": pa.array(row_ids, pa.string()),
            "model": pa.array([model] * n, pa.string()),
            "spec": pa.array([spec] * n, pa.string()),
            "dim": pa.array(np.full(n, dim, dtype=np.int32)),
            "truncated": pa.array(np.asarray(truncated, dtype=bool)),
        }
    )
    vector_rows = meta.select(["shard", "row_id", "spec"])
    return meta, vector_rows.append_column("embedding", vectors_to_arrow(vectors))


def write_embeddings(store: DuckDBStore, meta: pa.Table, vectors: pa.Table) -> None:
    """Replace the (shard, spec) partitions these rows belong to with exactly these rows."""
    keys = sorted(set(zip(meta.column("shard").to_pylist(), meta.column("spec").to_pylist(), strict=True)))
    for shard, spec in keys:
        commit_partition(store, shard, spec, _rows_of(meta, shard, spec), _rows_of(vectors, shard, spec))


def commit_partition(
    store: DuckDBStore, shard: str, spec: str, meta: pa.Table, vectors: pa.Table | None
) -> None:
    """The whole (shard, spec) partition: metadata and FLOAT[d] vectors in one commit (both or neither)."""
    tables = {"pool_embeddings": meta}
    if vectors is not None and vectors.num_rows:
        tables[vectors_table(vectors.schema.field("embedding").type.list_size)] = vectors
    store.commit("pool_embeddings", [shard, spec], tables)


def _rows_of(table: pa.Table, shard: str, spec: str) -> pa.Table:
    return table.filter(pc.and_(pc.equal(table["shard"], shard), pc.equal(table["spec"], spec)))


def _kept_rows(
    store: DuckDBStore, shard: str, spec: str, keep: list[str]
) -> tuple[pa.Table, pa.Table | None]:
    """The stored metadata and vectors of the rows a rewrite of (shard, spec) keeps (one snapshot)."""
    with store.get_connection() as conn:
        meta = conn.sql(load_sql("select_embeddings_partition"), params=[shard, spec, keep]).to_arrow_table()
        dims = set(meta.column("dim").to_pylist())
        if len(dims) > 1:
            raise ValueError(f"embedding spec {spec!r} is stored with several widths: {sorted(dims)}")
        if not dims:
            return meta, None
        sql = load_sql_for_dim("vectors_select_partition", dims.pop())
        return meta, conn.sql(sql, params=[shard, spec, keep]).to_arrow_table()


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
    automation_condition=dg.AutomationCondition.eager(),
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
    have = set(store.fetch_arrow("select_embedded_row_ids", [shard, spec]).column("row_id").to_pylist())
    wanted = [row["row_id"] for row in pool_rows]
    todo = [row for row in pool_rows if row["row_id"] not in have]
    reused = len(wanted) - len(todo)
    started = time.perf_counter()
    result = embedder.embed_result([embedding_text(row["turns"], embedder.text_mode) for row in todo])
    seconds = time.perf_counter() - started
    ok = ~result.failed
    done = [row["row_id"] for row, good in zip(todo, ok, strict=True) if good]
    keep = [row_id for row_id in wanted if row_id in have]  # everything else of (shard, spec) goes
    meta, vector_rows = _kept_rows(store, shard, spec, keep)
    if done:
        new_meta, new_vectors = embedding_rows(
            [shard] * len(done), done, result.vectors[ok], result.truncated[ok], embedder.model_name, spec
        )
        meta = pa.concat_tables([meta, new_meta.cast(meta.schema)])
        if vector_rows is not None:
            new_vectors = pa.concat_tables([vector_rows, new_vectors.cast(vector_rows.schema)])
        vector_rows = new_vectors
    commit_partition(store, shard, spec, meta, vector_rows)
    summary = store.fetch_arrow("select_shard_embedding_summary", [shard, spec]).to_pylist()[0]
    stale = len(have) - len(keep)
    n_rows, n_truncated, dims, other_specs = summary.values()
    n_truncated = int(n_truncated)  # sum() arrives as a Decimal through Arrow
    metadata = {
        "dagster/row_count": n_rows,
        "embedded_now": len(done),
        "failed_rows": len(todo) - len(done),
        "reused_same_spec": reused,
        "dropped_rows_no_longer_in_shard": int(stale),
        "rows_of_other_specs_kept": other_specs,
        "truncated_rows": n_truncated,
        "truncated_share": n_truncated / max(n_rows, 1),
        "backend": embedder.backend,
        "model": embedder.model_name,
        "spec": spec,
        "dim": dims[0] if len(dims) == 1 else str(dims),
        "embed_seconds": seconds,
        "rows_per_second": len(done) / seconds if done and seconds > 0 else 0.0,
        "request_outcomes": dg.MetadataValue.json(dict(result.attempts)),
    }
    if len(done) < len(todo):  # the embedded rows are stored (a rerun embeds only the rest)
        reasons = Counter(error for error in result.errors if error is not None)
        raise dg.Failure(
            description=f"{len(todo) - len(done)} of {len(todo)} rows of shard {shard} were not embedded "
            f"({spec}); nothing was stored for them",
            metadata={**metadata, "failure_reasons": dg.MetadataValue.md(counts_table(reasons, "reason"))},
        )
    return dg.MaterializeResult(
        metadata=metadata,
        data_version=dg.DataVersion(data_version(spec, sorted(wanted))),
    )
