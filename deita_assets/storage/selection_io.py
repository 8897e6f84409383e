"""Feed the Repr Filter from DuckDB in walk order, window by window, never loading the whole pool.

Phase 1 asks DuckDB for the walk order as physical row ids of `pool_vectors_<dim>` only (8 bytes a
row: 16 MB for 2M rows). Phase 2 fetches vectors for one window of that order at a time and stops as
soon as the filter has m rows. A window's rows are scattered over the whole table (score order is not
storage order), so a window costs one pass over the FLOAT[dim] column; measured on 2M × 768, that pass
is bound by DuckDB's scan (~1-2.5 s), not by the id list (sorting the ids, `= ANY`, a join against a
registered Arrow table or a larger memory limit made no measurable difference). Windows are therefore
large (`window_rows`) and the first one is sized to the budget so a typical walk needs a single pass.
The fixed-width column arrives as an Arrow fixed_size_list and becomes an n × dim matrix without
per-row work. Memory: the order, one window (window_rows × d float32) and the filter's kept set.

Everything runs on ONE connection: DuckDB row ids are only stable within a snapshot, and the reads
between filter steps are short. The connection's memory limit is lowered so scans do not fill the
process with cached column blocks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from deita_assets.core.selection import FilterOutcome, Precision, ReprFilter, seeded_shuffle
from deita_assets.storage.sql import load_sql, load_sql_for_dim

BATCH_ROWS = 8192


@dataclass
class StreamedWalk:
    """The filter outcome (ids = positions in the walk order) plus what the stream read."""

    outcome: FilterOutcome
    candidates: int
    rows_fetched: int
    windows: int
    row_ids: dict[int, str] = field(default_factory=dict)  # walk position -> row id, fetched rows only
    scores: np.ndarray | None = None  # per walk position (score walks)
    seconds: dict[str, float] = field(default_factory=dict)  # order / fetch / filter wall time

    def row_id(self, position: int) -> str:
        return self.row_ids[int(position)]


def embedding_dim(conn: duckdb.DuckDBPyConnection, spec: str) -> int | None:
    """The vector width stored for an embedding spec (None: nothing embedded with it yet)."""
    dims = conn.execute(load_sql("select_embedding_dims"), [spec]).fetchall()
    if len(dims) > 1:  # one spec = one model = one width; anything else would silently drop rows
        raise ValueError(f"embedding spec {spec!r} is stored with several widths: {[d for d, _ in dims]}")
    return int(dims[0][0]) if dims else None


def walk_order(
    conn: duckdb.DuckDBPyConnection,
    spec: str,
    dim: int,
    *,
    by_score: bool,
    seed: int,
    score_sql: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Physical row ids (of pool_vectors_<dim>) in walk order (score desc / seeded random) and the
    scores when by score; `score_sql` names the ranking statement (default: the evol score)."""
    if by_score:
        sql = load_sql_for_dim(score_sql or "vectors_select_candidates_by_score", dim)
        got = conn.execute(sql, [spec]).fetchnumpy()
        return np.asarray(got["embedding_rowid"], dtype=np.int64), np.asarray(got["score"], dtype=np.float64)
    got = conn.execute(load_sql_for_dim("vectors_select_candidates_by_id", dim), [spec]).fetchnumpy()
    by_id = np.asarray(got["embedding_rowid"], dtype=np.int64)
    # already in row-id order, so the seeded shuffle depends only on the set of ids (as random_order)
    return by_id[seeded_shuffle(len(by_id), seed)], None


def vectors_of(column: pa.Array | pa.ChunkedArray, dim: int) -> np.ndarray:
    """A FLOAT[dim] column (Arrow fixed_size_list) as an n × dim float32 matrix, no per-row work."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_fixed_size_list(column.type) or column.type.list_size != dim:
        raise TypeError(f"expected fixed_size_list<float, {dim}>, got {column.type}")
    if column.null_count:
        raise ValueError("null embedding in a NOT NULL column")
    values = column.flatten().to_numpy(zero_copy_only=False)
    return values.astype(np.float32, copy=False).reshape(len(column), dim)


def fetch_window(
    conn: duckdb.DuckDBPyConnection, rowids: np.ndarray, dim: int
) -> tuple[np.ndarray, list[str]]:
    """Embeddings (in the given order) and row ids of one window of physical rows, streamed batch by
    batch into one preallocated matrix (no second full copy of the window)."""
    sorter = np.argsort(rowids, kind="stable")
    vectors = np.empty((len(rowids), dim), dtype=np.float32)
    row_ids: list[str] = [""] * len(rowids)
    seen = 0
    sql = load_sql_for_dim("vectors_select_by_rowid", dim)
    reader = conn.sql(sql, params=[rowids]).to_arrow_reader(BATCH_ROWS)
    for batch in reader:
        got = batch.column("embedding_rowid").to_numpy()
        where = sorter[np.searchsorted(rowids, got, sorter=sorter)]
        vectors[where] = vectors_of(batch.column("embedding"), dim)
        for position, row_id in zip(where.tolist(), batch.column("row_id").to_pylist(), strict=True):
            row_ids[position] = row_id
        seen += batch.num_rows
    if seen != len(rowids):
        raise RuntimeError("pool_embeddings changed while selecting (rows vanished mid-walk); rerun")
    return vectors, row_ids


def stream_repr_filter(
    conn: duckdb.DuckDBPyConnection,
    *,
    spec: str,
    dim: int,
    budget: int,
    tau: float,
    by_score: bool,
    score_sql: str | None = None,
    seed: int = 0,
    window_rows: int = 65_536,
    memory_limit: str | None = "256MB",
    precision: Precision = "bf16",
    block_size: int = 1024,
) -> StreamedWalk:
    """Run the Repr Filter over the pool's embeddings in walk order, reading windows until m are kept."""
    if memory_limit:
        conn.execute("SET memory_limit = ?", [memory_limit])
    seconds = {"order": -time.perf_counter(), "fetch": 0.0, "filter": 0.0}
    order, scores = walk_order(conn, spec, dim, by_score=by_score, seed=seed, score_sql=score_sql)
    seconds["order"] += time.perf_counter()
    walk = ReprFilter(dim, budget=budget, tau=tau, precision=precision, block_size=block_size)
    first = min(window_rows, max(4 * budget, 16_384))
    starts = [0, *range(first, len(order), window_rows)] if len(order) > first else [0]
    row_ids: dict[int, str] = {}
    fetched = windows = 0
    for index, start in enumerate(starts):
        stop = starts[index + 1] if index + 1 < len(starts) else len(order)
        seconds["fetch"] -= time.perf_counter()
        vectors, ids = fetch_window(conn, order[start:stop], dim)
        seconds["fetch"] += time.perf_counter()
        fetched += stop - start
        windows += 1
        row_ids.update(zip(range(start, stop), ids, strict=True))
        seconds["filter"] -= time.perf_counter()
        done = walk.feed(np.arange(start, stop), vectors)
        seconds["filter"] += time.perf_counter()
        del vectors
        if done:
            break
    return StreamedWalk(walk.outcome(), len(order), fetched, windows, row_ids, scores, seconds)
