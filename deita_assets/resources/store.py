"""The store: Parquet files per partition under one folder, read with DuckDB SQL through views.

Why files and not one DuckDB file: DuckDB lets one process hold a database file open for writing
(readers included, unless every process is read-only), so many shard writers on many machines, or one
notebook, made every other writer wait. Here a write never touches another partition's files and a
reader holds no lock at all, so nothing waits: a folder on the laptop, a shared filesystem for many
machines, no server, and only DuckDB's built-in parquet reader (no extension to download offline).

Layout under `root` (default `$DEITA_HOME/store`):

- `<table>/<partition>.<token>.parquet`: the rows one commit wrote to `table` for one partition.
  Never modified once in place; `<partition>` is a slug plus a hash of the key, so a hostile key
  cannot leave the folder or collide with another.
- `_commits/<group>/<partition>.json`: the commit pointer of one partition of a write group, naming
  the file of each table it wrote. A commit writes every data file first (temp name, then rename),
  then replaces this pointer with `os.replace`: a write of several tables (ingest: pool, duplicates,
  quarantine, stats) lands whole or not at all, and SIGKILL at any point leaves the old pointer or
  the new one. Readers see only files named by pointers.
- `_append/<table>/<token>.parquet`: append-only tables (the LLM cache), one new file per batch,
  never read-modified-written; later files win at read time (see `sql/view_*`).

Readers open an in-memory DuckDB with one view per table (`stored.<table>` over the committed files,
typed by `sql/create_*.sql` so empty tables keep their columns) and the public views in `main`
(`sql/view_*.sql`, default: the stored rows as they are). Superseded and orphaned files of a partition
are deleted by that partition's next commit once older than `keep_superseded_seconds`, so a reader
that listed them a moment before does not lose them mid-query.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
from pydantic import Field

from deita_assets.storage.paths import data_home, default_store_root, sql_dir
from deita_assets.storage.sql import (
    identifier,
    load_sql,
    load_sql_for_dim,
    load_sql_for_table,
    schema_statements,
)

SCHEMA_VERSION = 4  # 4: Parquet per partition (before: tables in one deita.duckdb file, versions 1-3)
PAUSE_ENV = "DEITA_STORE_PAUSE_BEFORE_COMMIT"  # fault injection for the crash tests: seconds
COMMITS, APPENDS, TEMP_PREFIX = "_commits", "_append", ".tmp-"
_VECTORS = re.compile(r"pool_vectors_(\d+)")
_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)", re.IGNORECASE)


def partition_name(key: Sequence[Any]) -> str:
    """A file-name-safe, collision-free name for a partition key (any strings, any length)."""
    encoded = json.dumps(list(key), ensure_ascii=False, default=str)
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", "_".join(str(part) for part in key))[:48] or "all"
    return f"{slug}-{hashlib.sha256(encoded.encode()).hexdigest()[:20]}"


def _token() -> str:
    """Unique and time-ordered: later appends sort after earlier ones."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


def _temp_name(final: Path) -> Path:
    """Beside the final file, named after the writing process (a crash test finds whom to kill)."""
    return final.with_name(f"{TEMP_PREFIX}{socket.gethostname()}-{os.getpid()}-{final.name}")


@cache
def _ddl_by_table() -> dict[str, str]:
    return {_CREATE.search(statement).group(1): statement for _name, statement in schema_statements()}


def create_tables(conn: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> None:
    """Every sql/create_*.sql (in order: one may copy another's columns) plus the vector tables named."""
    for _name, statement in schema_statements():
        conn.execute(statement)
    for table in tables:
        vectors = _VECTORS.fullmatch(table)
        if vectors:
            conn.execute(load_sql_for_dim("vectors_create_table", int(vectors.group(1))))
        elif table not in _ddl_by_table():
            raise ValueError(f"no sql/create_*.sql defines a table {table!r}")


@cache
def _declared_columns(table: str) -> tuple[pa.Schema, frozenset[str]]:
    """The table's Arrow schema and its DEFAULT columns, read off its DDL in an in-memory DuckDB."""
    conn = duckdb.connect()
    try:
        create_tables(conn, [table])
        types = conn.sql(load_sql_for_table("select_no_rows", table)).to_arrow_table().schema
        described = conn.execute(load_sql("select_table_columns"), [table]).fetchall()
    finally:
        conn.close()
    nullable = {name: is_nullable for name, is_nullable, _ in described}
    schema = pa.schema([field.with_nullable(nullable[field.name]) for field in types])
    return schema, frozenset(name for name, _, has_default in described if has_default)


def table_schema(table: str) -> pa.Schema:
    """The Arrow schema of a stored table, derived from its `sql/create_*.sql` (the one declaration of
    its columns): DDL order, DuckDB's types, NOT NULL columns non-nullable, as the Parquet files hold it."""
    return _declared_columns(table)[0]


def typed_rows(table: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """`rows` as an Arrow table typed by the table's DDL, for `commit` / `replace_partition`.

    A column the DDL gives a DEFAULT (e.g. `scored_at`) and no row names is left out, so the store
    fills it; any other column a row lacks is NULL, and the write refuses it if the DDL says NOT NULL.
    """
    schema, defaulted = _declared_columns(table)
    named = set().union(*rows)
    fields = [field for field in schema if field.name in named or field.name not in defaulted]
    return pa.Table.from_pylist(list(rows), schema=pa.schema(fields))


def write_parquet(table: str, rows: pa.Table, final: Path) -> None:
    """Rows checked against the table's DDL (types, NOT NULL, defaults), written to a temp file and
    renamed into place: the final name only ever holds a complete file."""
    conn = duckdb.connect()
    try:
        create_tables(conn, [table])
        conn.register("_incoming_rows", rows)
        columns = ", ".join(f'"{name}"' for name in rows.column_names)
        conn.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _incoming_rows")
        temp = _temp_name(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        conn.execute(f"COPY {table} TO '{_quoted(temp)}' (FORMAT parquet)")
    finally:
        conn.close()
    os.replace(temp, final)


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _write_json(final: Path, content: Mapping[str, Any]) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_name(final)
    temp.write_text(json.dumps(content, indent=1), encoding="utf-8")
    pause = float(os.environ.get(PAUSE_ENV) or 0)
    if pause:
        time.sleep(pause)  # data files in place, pointer not yet replaced: the crash tests kill here
    os.replace(temp, final)


class DuckDBStore(dg.ConfigurableResource):
    """Every table the graph writes: Parquet files per partition, read through DuckDB views."""

    root: str = Field(
        default_factory=lambda: str(default_store_root()),
        description="Store folder (default $DEITA_HOME/store); a shared filesystem path for many machines.",
    )
    keep_superseded_seconds: float = Field(
        default=3600.0,
        description="Replaced files stay this long (readers that listed them keep working), then go.",
    )

    artifacts_root: str = Field(
        default_factory=lambda: str(data_home() / "artifacts"),
        description="Model, plot and export files beside the tables (default $DEITA_HOME/artifacts).",
    )

    @property
    def path(self) -> Path:
        return _checked_root(Path(self.root))

    def artifacts_dir(self, *parts: str) -> Path:
        """The folder for one asset's files (`artifacts_root/<parts>`), created."""
        path = Path(self.artifacts_root).expanduser().resolve().joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory DuckDB with a view per table over the committed files: takes no lock, so it
        never waits for a writer and no writer waits for it. Writes go through `commit`."""
        conn = open_reader(self.path)
        try:
            yield conn
        finally:
            conn.close()

    def fetch_arrow(self, sql_name: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> pa.Table:
        """Run `sql/<sql_name>.sql` with parameters and return every row (fetched fully)."""
        with self.get_connection() as conn:
            return conn.sql(load_sql(sql_name), params=params or None).to_arrow_table()

    def replace_partition(self, table: str, key: Sequence[Any], rows: pa.Table) -> int:
        """Replace one partition of one table (`key`: the partition's values); returns rows written."""
        self.commit(table, key, {table: rows})
        return rows.num_rows

    def commit(self, group: str, key: Sequence[Any], tables: Mapping[str, pa.Table]) -> None:
        """Replace partition `key` of write group `group` with these tables' rows, all or nothing.

        A group owns its tables (one group per table, checked by readers); a table left out of
        `tables` is emptied for this partition, so the group's commit is always its whole output.
        Idempotent: a rerun replaces, never duplicates. `group` and table names come from code.
        """
        root, name = self.path, partition_name(key)
        pointer = root / COMMITS / identifier(group) / f"{name}.json"
        files: dict[str, str | None] = {}
        for table, rows in sorted(tables.items()):
            identifier(table)
            if rows.num_rows == 0:
                files[table] = None
                continue
            relative = f"{table}/{name}.{_token()}.parquet"
            write_parquet(table, rows, root / relative)
            files[table] = relative
        previous = _read_pointer(pointer)
        _write_json(pointer, {"group": group, "key": [str(k) for k in key], "tables": files})
        self._collect(root, name, set(previous) | set(files), {f for f in files.values() if f})

    def append(self, table: str, rows: pa.Table) -> None:
        """Add rows to an append-only table as one new file (no read-modify-write, no lock)."""
        if rows.num_rows:
            write_parquet(table, rows, self.path / APPENDS / identifier(table) / f"{_token()}.parquet")

    def _collect(self, root: Path, name: str, tables: set[str], keep: set[str]) -> None:
        """Delete this partition's files no pointer names (superseded, or left by a killed write)
        once they are older than the grace period."""
        cutoff = time.time() - self.keep_superseded_seconds
        for table in tables:
            folder = root / table
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                ours = path.name.startswith(f"{name}.") or (
                    path.name.startswith(TEMP_PREFIX) and f"-{name}." in path.name
                )
                if ours and f"{table}/{path.name}" not in keep and _mtime(path) < cutoff:
                    path.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _read_pointer(pointer: Path) -> dict[str, str | None]:
    try:
        return json.loads(pointer.read_text(encoding="utf-8"))["tables"]
    except FileNotFoundError:
        return {}


def _checked_root(root: Path) -> Path:
    """The store folder, created; a version-3 store (`deita.duckdb` beside it) is refused, not mixed in."""
    root = root.expanduser().resolve()
    old = root.parent / "deita.duckdb"
    if old.exists():
        raise RuntimeError(
            f"{old} is a store of schema version <= 3 (one DuckDB file); this version ({SCHEMA_VERSION}) "
            f"keeps tables as Parquet under {root} and does not read it. Move it aside "
            f"(mv {old} {old}.v3) and re-materialize the assets; nothing is migrated."
        )
    root.mkdir(parents=True, exist_ok=True)
    return root


def committed_files(root: Path) -> dict[str, list[str]]:
    """Every committed data file by table, in a fixed order (pointers, then appends oldest first)."""
    files: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for pointer in sorted((root / COMMITS).glob("*/*.json")):
        if pointer.name.startswith(TEMP_PREFIX):
            continue  # a commit still being written (or killed midway): not committed
        group = pointer.parent.name
        for table, relative in _read_pointer(pointer).items():
            if owner.setdefault(table, group) != group:
                raise RuntimeError(f"table {table!r} written by two commit groups: {owner[table]}, {group}")
            files.setdefault(table, [])
            if relative:
                files[table].append(str(root / relative))
    for folder in sorted((root / APPENDS).glob("*")):
        files.setdefault(folder.name, []).extend(
            str(path) for path in sorted(folder.glob("*.parquet")) if not path.name.startswith(TEMP_PREFIX)
        )
    return files


def open_reader(root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory connection over the committed files (a snapshot: reconnect to see later writes)."""
    files = committed_files(root)
    tables = sorted(set(_ddl_by_table()) | set(files))
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA _ddl; CREATE SCHEMA stored")
    conn.execute("USE memory._ddl")
    create_tables(conn, tables)
    conn.execute("USE memory.main")
    for table in tables:
        conn.execute(f"CREATE VIEW stored.{table} AS {_stored_select(table, files.get(table, []))}")
    custom = {path.stem.split("_", 2)[2]: path.stem for path in sorted(sql_dir().glob("view_[0-9]*.sql"))}
    for table in [t for t in custom if t in tables] + [t for t in tables if t not in custom]:
        conn.execute(f"CREATE VIEW main.{table} AS {_public_select(table, custom.get(table))}")
    return conn


def _stored_select(table: str, paths: list[str]) -> str:
    typed = f"SELECT * FROM _ddl.{table}"
    if not paths:
        return (
            typed
            if not _VECTORS.fullmatch(table)
            else f"SELECT *, NULL::BIGINT AS embedding_rowid FROM _ddl.{table}"
        )
    listed = ", ".join(f"'{_quoted(Path(p))}'" for p in paths)
    extra = (
        ", (file_index::BIGINT << 32) + file_row_number AS embedding_rowid"
        if _VECTORS.fullmatch(table)
        else ""
    )
    return f"{typed} UNION ALL BY NAME SELECT *{extra} FROM read_parquet([{listed}], union_by_name = true)"


def _public_select(table: str, view: str | None) -> str:
    if view:
        return load_sql(view)
    if table in OWNED_BY_POOL_SHARD or _VECTORS.fullmatch(table):
        return load_sql_for_table("view_owned_rows", table)
    return f"SELECT * FROM stored.{table}"


# Per-shard tables keyed by (shard, row_id): only rows of the shard that holds the row in `pool` count
# (a row first ingested by a later shard key moves to the smaller one; see assets/ingest.py).
OWNED_BY_POOL_SHARD = ("pool_embeddings", "pool_scores", "reward_scores")


def connect_readonly(root: str | os.PathLike[str] | None = None) -> duckdb.DuckDBPyConnection:
    """For notebooks: a DuckDB connection with every table as a view, never blocking a pipeline write
    and never failing because of one. A snapshot of the commits at call time; reconnect for newer."""
    return open_reader(_checked_root(Path(root) if root else default_store_root()))
