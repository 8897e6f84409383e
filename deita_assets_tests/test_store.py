import pyarrow as pa

from deita_assets.resources.store import SCHEMA_VERSION, DuckDBStore


def test_schema_created_once_with_version(store: DuckDBStore) -> None:
    with store.get_connection() as conn:
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
    with store.get_connection() as conn:
        again = conn.execute("SELECT version FROM schema_version").fetchall()
    assert versions == again == [(SCHEMA_VERSION,)]


def test_replace_partition_is_idempotent(store: DuckDBStore) -> None:
    rows = pa.table(
        {"strategy": ["a", "a"], "benchmark": ["b", "b"], "metric": ["m1", "m2"], "value": [1.0, 2.0]}
    )
    for _ in range(2):
        store.replace_partition("evaluation", "delete_evaluation_partition", ["a"], rows)
    with store.get_connection() as conn:
        assert conn.execute("SELECT count(*) FROM evaluation").fetchone() == (2,)
