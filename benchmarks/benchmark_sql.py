"""Statements only a benchmark needs live in benchmarks/sql/, out of the wheel."""

from pathlib import Path

from deita_assets.resources.store import DuckDBStore

BENCHMARK_SQL = Path(__file__).parent / "sql"


def benchmark_rows(store: DuckDBStore, name: str) -> list[dict]:
    """Rows of benchmarks/sql/<name>.sql over the store's committed tables."""
    with store.get_connection() as conn:
        statement = (BENCHMARK_SQL / f"{name}.sql").read_text(encoding="utf-8")
        return conn.sql(statement).to_arrow_table().to_pylist()
