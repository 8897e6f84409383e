"""The DuckDB store: one file, short connections, schema from sql/, atomic partition replaces.

DuckDB lets one process hold a file open for writing, and Dagster runs each partition in its own
process. Connections here are therefore short and opening one retries (with jitter) while another
process holds the lock, so concurrent partition runs queue up instead of failing.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa
from dagster_duckdb import DuckDBResource
from pydantic import Field

from deita_assets.core.retry import call_with_retry
from deita_assets.paths import default_database_path, sql_dir
from deita_assets.sql import load_sql, load_sql_for_dim, schema_statements

SCHEMA_VERSION = 3  # 2: vectors moved to fixed-width pool_vectors_<dim> tables; 3: IFD in pool_scores
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "lock on file", "database is locked")


def _is_lock_error(error: BaseException) -> bool:
    return isinstance(error, duckdb.IOException | duckdb.ConnectionException) and any(
        marker in str(error) for marker in _LOCK_MARKERS
    )


class DuckDBStore(DuckDBResource):
    """DuckDB file under the data home; every table the graph writes lives here."""

    database: str = Field(
        default_factory=lambda: str(default_database_path()),
        description="Path of the DuckDB file (default: $DEITA_HOME/deita.duckdb).",
    )
    lock_wait_seconds: float = Field(
        default=600.0, description="How long to wait for another process's write lock before failing."
    )

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived read-write connection, waiting out other processes' locks."""
        conn = call_with_retry(
            lambda: duckdb.connect(self.database, read_only=False, config=dict(self.connection_config)),
            retry_if=_is_lock_error,
            max_seconds=self.lock_wait_seconds,
        )
        try:
            _ensure_schema(conn, self.database)
            yield conn
        finally:
            conn.close()

    def fetch_arrow(self, sql_name: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> pa.Table:
        """Run `sql/<sql_name>.sql` with parameters and return every row (fetched fully)."""
        with self.get_connection() as conn:
            return conn.sql(load_sql(sql_name), params=params or None).to_arrow_table()

    def execute(self, sql_name: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> None:
        with self.get_connection() as conn:
            conn.execute(load_sql(sql_name), params)

    def replace_partition(
        self, table: str, delete_sql: str, delete_params: Sequence[Any], rows: pa.Table
    ) -> int:
        """Delete a partition's rows and insert the new ones in one transaction; returns rows inserted.

        A killed process leaves the previous state (DuckDB rolls back the open transaction), and a
        rerun never duplicates. `table` is a fixed identifier from code, never user input.
        """
        with self.transaction() as conn:
            conn.execute(load_sql(delete_sql), delete_params)
            insert_rows(conn, table, rows)
        return rows.num_rows

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside one transaction (see `in_transaction`)."""
        with self.get_connection() as conn, in_transaction(conn):
            yield conn


@contextmanager
def in_transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Committed on success, rolled back on any error, so writes spanning several tables land
    together or not at all."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def insert_rows(conn: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """Insert an Arrow table by column name (columns not given take their defaults)."""
    if rows.num_rows == 0:
        return
    conn.register("_incoming_rows", rows)
    try:
        columns = ", ".join(f'"{name}"' for name in rows.column_names)
        conn.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _incoming_rows")
    finally:
        conn.unregister("_incoming_rows")


_schema_ready: set[str] = set()


def _ensure_schema(conn: duckdb.DuckDBPyConnection, database: str) -> None:
    """Create every table once per process and database file; statements are idempotent."""
    if database in _schema_ready:
        return
    for _name, statement in schema_statements():
        conn.execute(statement)
    _move_list_embeddings(conn)
    _add_ifd_columns(conn)
    conn.execute(
        "INSERT INTO schema_version (version) SELECT ? WHERE NOT EXISTS "
        "(SELECT 1 FROM schema_version WHERE version = ?)",
        [SCHEMA_VERSION, SCHEMA_VERSION],
    )
    _schema_ready.add(database)


def _add_ifd_columns(conn: duckdb.DuckDBPyConnection) -> None:
    """Schema 2 -> 3: pool_scores gains the IFD columns (NULL = not computed) in a store built before."""
    for path in sorted(sql_dir().glob("migrate_003_*.sql")):
        conn.execute(load_sql(path.stem))


def _move_list_embeddings(conn: duckdb.DuckDBPyConnection) -> None:
    """Schema 1 -> 2: move FLOAT[] vectors out of pool_embeddings into pool_vectors_<dim>, in one
    transaction, so a store built before keeps its embeddings (none dropped, none re-embedded)."""
    if conn.execute(load_sql("select_list_embedding_column")).fetchone()[0] == 0:
        return
    with in_transaction(conn):
        for (dim,) in conn.execute(load_sql("select_embedding_widths")).fetchall():
            conn.execute(load_sql_for_dim("vectors_create_table", dim))
            conn.execute(load_sql_for_dim("vectors_copy_from_list_column", dim), [dim])
        conn.execute(load_sql("drop_list_embedding_column"))
