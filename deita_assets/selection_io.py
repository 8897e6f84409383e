"""Feed the Repr Filter from DuckDB in walk order, window by window, never loading the whole pool.

Phase 1 asks DuckDB for the walk order as physical row ids only (8 bytes a row: 16 MB for 2M rows).
Phase 2 fetches embeddings for one window of that order at a time and stops as soon as the filter has
m rows. DuckDB has no cheap point lookups (a rowid IN-list still scans the column), so a window costs
one scan of the embedding column; windows are therefore large (`window_rows`) and the first one is
sized to the budget so a typical walk needs a single scan. Memory: the order, one window
(window_rows × d float32) and the filter's kept set.

Everything runs on ONE connection: DuckDB row ids are only stable within a snapshot, and the reads
between filter steps are short. The connection's memory limit is lowered so scans do not fill the
process with cached column blocks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb
import numpy as np

from deita_assets.core.selection import FilterOutcome, Precision, ReprFilter, seeded_shuffle
from deita_assets.sql import load_sql


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


def walk_order(
    conn: duckdb.DuckDBPyConnection, spec: str, *, by_score: bool, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Physical row ids in walk order (score desc / seeded random) and the scores when by score."""
    if by_score:
        got = conn.execute(load_sql("select_filter_candidates_by_score"), [spec]).fetchnumpy()
        return np.asarray(got["embedding_rowid"], dtype=np.int64), np.asarray(got["score"], dtype=np.float64)
    got = conn.execute(load_sql("select_filter_candidates_by_id"), [spec]).fetchnumpy()
    by_id = np.asarray(got["embedding_rowid"], dtype=np.int64)
    # already in row-id order, so the seeded shuffle depends only on the set of ids (as random_order)
    return by_id[seeded_shuffle(len(by_id), seed)], None


def fetch_window(
    conn: duckdb.DuckDBPyConnection, rowids: np.ndarray, dim: int
) -> tuple[np.ndarray, list[str]]:
    """Embeddings (in the given order) and row ids of one window of physical rows, streamed batch by
    batch into one preallocated matrix (no second full copy of the window)."""
    sorter = np.argsort(rowids, kind="stable")
    vectors = np.empty((len(rowids), dim), dtype=np.float32)
    row_ids: list[str] = [""] * len(rowids)
    seen = 0
    reader = conn.sql(load_sql("select_embeddings_by_rowid"), params=[rowids]).to_arrow_reader(8192)
    for batch in reader:
        got = batch.column("embedding_rowid").to_numpy()
        where = sorter[np.searchsorted(rowids, got, sorter=sorter)]
        values = batch.column("embedding").flatten().to_numpy(zero_copy_only=False)
        if len(values) != batch.num_rows * dim:
            raise ValueError(f"embeddings in this window are not all {dim}-dimensional")
        vectors[where] = values.reshape(batch.num_rows, dim)
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
    order, scores = walk_order(conn, spec, by_score=by_score, seed=seed)
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
