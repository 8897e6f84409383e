"""Stage 1: raw pool ingestion, one dynamic partition (shard) per inbox file.

Duplicate rule (deterministic whatever order shards are written in, safe under re-materialization and
concurrency):

- Within a shard the first occurrence (lowest position) is kept; later copies are duplicates.
- Across shards a row id is held by the smallest shard key that has it. Each shard's write is one
  commit of its own four tables (pool, pool_duplicates, quarantine, ingest_stats) holding only what
  the shard alone determines: all its distinct rows, its within-shard duplicates, its quarantine.
  The `pool`, `pool_duplicates` and `ingest_stats` views (sql/view_*.sql) then keep each row once, in
  its holding shard, and list the other copies as `across_shards` duplicates. No writer reads another
  shard's rows, so shards are written concurrently on any machine with no lock, and the tables come
  out the same for any write order. Re-materializing a shard replaces only its own files.
- Consequence: a shard ingested later with a smaller key takes over the rows it shares with an older
  shard; the older shard's per-shard outputs (scores, embeddings, rewards) of those rows stop counting
  (sql/view_owned_rows.sql) and the new shard computes its own. A killed write leaves the old commit.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
from pydantic import Field

from deita_assets.core.formats import RECORD_FORMATS
from deita_assets.core.ingest import DEFAULT_MAX_ROW_BYTES, ShardResult, find_shard_file, ingest_file
from deita_assets.core.report import counts_table, histogram_table, markdown_table
from deita_assets.orchestration.partitions import IN_ORDER_TAG, pool_shard
from deita_assets.resources.store import DuckDBStore
from deita_assets.storage.paths import inbox_dir

_TURN = pa.struct([("role", pa.string()), ("content", pa.string())])
POOL_COLUMNS = {
    "shard": "VARCHAR",
    "row_id": "VARCHAR (sha256 of the normalized conversation, 32 hex)",
    "source": "VARCHAR",
    "source_file": "VARCHAR",
    "position": "BIGINT",
    "format": "VARCHAR",
    "turns": "STRUCT(role VARCHAR, content VARCHAR)[]",
    "n_turns": "INTEGER",
    "n_chars": "BIGINT",
    "ingested_at": "TIMESTAMP",
}
CHECK_NAME = "rows_accounted_for"


class RawPoolConfig(dg.Config):
    record_format: str | None = Field(
        default=None,
        description=f"Force one record format instead of detecting it: {', '.join(RECORD_FORMATS)}",
    )
    max_row_bytes: int = Field(default=DEFAULT_MAX_ROW_BYTES, description="Larger records are quarantined.")
    inbox: str | None = Field(default=None, description="Inbox folder (default $DEITA_HOME/inbox).")


def _pool_table(shard: str, result: ShardResult) -> pa.Table:
    kept = result.kept
    return pa.table(
        {
            "shard": pa.array([shard] * len(kept), pa.string()),
            "row_id": pa.array([k.row_id for k in kept], pa.string()),
            "source": pa.array([result.source] * len(kept), pa.string()),
            "source_file": pa.array([result.source_file] * len(kept), pa.string()),
            "position": pa.array([k.position for k in kept], pa.int64()),
            "format": pa.array([k.format for k in kept], pa.string()),
            "turns": pa.array([k.turns for k in kept], pa.list_(_TURN)),
            "n_turns": pa.array([len(k.turns) for k in kept], pa.int32()),
            "n_chars": pa.array([k.n_chars for k in kept], pa.int64()),
        }
    )


def _quarantine_table(shard: str, result: ShardResult) -> pa.Table:
    rows = result.quarantined
    return pa.table(
        {
            "shard": pa.array([shard] * len(rows), pa.string()),
            "source": pa.array([result.source] * len(rows), pa.string()),
            "source_file": pa.array([result.source_file] * len(rows), pa.string()),
            "position": pa.array([q.position for q in rows], pa.int64()),
            "reason": pa.array([q.reason for q in rows], pa.string()),
            "detail": pa.array([q.detail[:1000] for q in rows], pa.string()),
            "raw": pa.array([q.raw for q in rows], pa.string()),
        }
    )


def _within_duplicates_table(shard: str, result: ShardResult) -> pa.Table:
    dups = result.duplicates_within
    return pa.table(
        {
            "shard": pa.array([shard] * len(dups), pa.string()),
            "position": pa.array([p for p, _ in dups], pa.int64()),
            "row_id": pa.array([r for _, r in dups], pa.string()),
            "kind": pa.array(["within_shard"] * len(dups), pa.string()),
            "kept_in_shard": pa.array([shard] * len(dups), pa.string()),
        }
    )


def write_shard(store: DuckDBStore, shard: str, result: ShardResult) -> dict[str, int]:
    """Replace everything the shard wrote before, as one commit; returns the final counts.

    The shard stores what it alone determines (all its distinct rows, its own duplicates and
    quarantine, its counts); which rows it holds against other shards is read back from the views.
    """
    stats = {
        "shard": shard,
        "source": result.source,
        "source_file": result.source_file,
        "content_hash": result.content_hash,
        "container": result.container,
        "rows_read": result.rows_read,
        "rows_unique": len(result.kept),
        "rows_quarantined": len(result.quarantined),
        "duplicates_within_shard": len(result.duplicates_within),
        "empty_turns_dropped": result.empty_turns_dropped,
    }
    tables = {
        "pool": _pool_table(shard, result),
        "pool_duplicates": _within_duplicates_table(shard, result),
        "quarantine": _quarantine_table(shard, result),
        "ingest_stats": pa.Table.from_pylist([stats]),
    }
    store.commit("raw_pool", [shard], tables)
    (held,) = store.fetch_arrow("select_shard_accounting", [shard]).to_pylist()
    names = (
        "rows_read",
        "rows_kept",
        "rows_quarantined",
        "duplicates_within_shard",
        "duplicates_across_shards",
    )
    return {**{name: int(held[name]) for name in names}, "empty_turns_dropped": result.empty_turns_dropped}


def ingest_shard(
    store: DuckDBStore,
    shard: str,
    path: Path,
    *,
    record_format: str | None = None,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> tuple[ShardResult, dict[str, int]]:
    """Read, normalize and write one shard: the asset's whole job, reusable by the benchmark."""
    result = ingest_file(path, record_format=record_format, max_row_bytes=max_row_bytes)
    return result, write_shard(store, shard, result)


def accounting_check(store: DuckDBStore, shard: str, rows_read: int) -> dg.AssetCheckResult:
    """rows read = kept + quarantined + duplicates, both in ingest_stats and in the tables themselves."""
    table = store.fetch_arrow("select_shard_accounting", [shard]).to_pylist()
    if not table:
        return dg.AssetCheckResult(
            check_name=CHECK_NAME, passed=False, metadata={"error": "no ingest_stats row"}
        )
    s = table[0]
    accounted = (
        s["rows_kept"] + s["rows_quarantined"] + s["duplicates_within_shard"] + s["duplicates_across_shards"]
    )
    failures = [
        name
        for name, ok in {
            "rows_read == kept + quarantined + duplicates": s["rows_read"] == accounted,
            "rows_read == records read this run": s["rows_read"] == rows_read,
            "pool rows == rows_kept": s["pool_rows"] == s["rows_kept"],
            "quarantine rows == rows_quarantined": s["quarantine_rows"] == s["rows_quarantined"],
            "pool_duplicates rows == duplicates": s["duplicate_rows"]
            == s["duplicates_within_shard"] + s["duplicates_across_shards"],
        }.items()
        if not ok
    ]
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"failed": ", ".join(failures) or "none", **{k: int(v) for k, v in s.items()}},
    )


def _preview(result: ShardResult, n: int = 5) -> str:
    rows = []
    for k in result.kept[:n]:
        first_user = next((t["content"] for t in k.turns if t["role"] == "user"), "")
        first_answer = next((t["content"] for t in k.turns if t["role"] == "assistant"), "")
        rows.append(
            {
                "position": k.position,
                "format": k.format,
                "turns": len(k.turns),
                "user": first_user,
                "assistant": first_answer,
            }
        )
    return markdown_table(rows, max_chars=100)


def shard_metadata(
    shard: str, result: ShardResult, counts: Mapping[str, int], by_source: list[dict]
) -> dict[str, Any]:
    columns = [dg.TableColumn(name, kind) for name, kind in POOL_COLUMNS.items()]
    quarantine_preview = [
        {"position": q.position, "reason": q.reason, "raw": q.raw} for q in result.quarantined[:5]
    ]
    return {
        "dagster/row_count": counts["rows_kept"],
        "dagster/column_schema": dg.TableSchema(columns=columns),
        **counts,
        "shard": shard,
        "source": result.source,
        "source_file": result.source_file,
        "container": result.container,
        "content_hash": result.content_hash,
        "tool_turns_rendered": result.tool_turns_rendered,
        "formats": dg.MetadataValue.md(counts_table(result.format_counts(), "format")),
        "quarantine_by_reason": dg.MetadataValue.md(counts_table(result.quarantine_counts(), "reason")),
        "pool_rows_by_source": dg.MetadataValue.md(
            counts_table({r["source"]: r["rows"] for r in by_source}, "source")
        ),
        "turns_per_conversation": dg.MetadataValue.md(
            histogram_table(
                [len(k.turns) for k in result.kept], bins=[1, 2, 3, 4, 6, 8, 12, 20, 50, 1000], label="turns"
            )
        ),
        "chars_per_conversation": dg.MetadataValue.md(
            histogram_table(
                [k.n_chars for k in result.kept],
                bins=[0, 100, 300, 1000, 3000, 10000, 30000, 100000, 1e7],
                label="chars",
            )
        ),
        "preview": dg.MetadataValue.md(_preview(result)),
        "quarantine_preview": dg.MetadataValue.md(markdown_table(quarantine_preview, max_chars=100)),
    }


@dg.asset(
    partitions_def=pool_shard,
    group_name="ingest",
    kinds={"duckdb"},
    tags={IN_ORDER_TAG: "true"},
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_NAME, asset="raw_pool", description="rows read = kept + quarantined + duplicates"
        )
    ],
)
def raw_pool(
    context: dg.AssetExecutionContext, config: RawPoolConfig, store: DuckDBStore
) -> dg.MaterializeResult:
    """One inbox file -> normalized conversations in `pool`, the rest in `quarantine` with reasons.

    Why: every later stage (scoring, embedding, selection) needs one conversation shape and a stable
    row id, and a user needs to see what was dropped and why. See the module docstring for the
    duplicate rule.
    """
    shard = context.partition_key
    path = find_shard_file(Path(config.inbox) if config.inbox else inbox_dir(), shard)
    context.log.info(f"ingesting {path}")
    result, counts = ingest_shard(
        store, shard, path, record_format=config.record_format, max_row_bytes=config.max_row_bytes
    )
    by_source = store.fetch_arrow("select_pool_rows_by_source").to_pylist()
    return dg.MaterializeResult(
        metadata=shard_metadata(shard, result, counts, by_source),
        check_results=[accounting_check(store, shard, result.rows_read)],
    )
