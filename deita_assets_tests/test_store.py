import duckdb
import numpy as np
import pyarrow as pa
import pytest

from deita_assets.assets.embeddings import embedding_rows, write_embeddings
from deita_assets.resources.store import SCHEMA_VERSION, DuckDBStore
from deita_assets.sql import load_sql_for_dim


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


def test_vector_tables_only_take_a_validated_width(store: DuckDBStore) -> None:
    assert "FLOAT[384]" in load_sql_for_dim("vectors_create_table", np.int64(384))
    for bad in ("384", 0, -1, 3.0, True, "8]); DROP TABLE pool; --"):
        with pytest.raises((TypeError, ValueError)):
            load_sql_for_dim("vectors_create_table", bad)
    meta, vectors = embedding_rows(["s"], ["r"], np.ones((1, 3), np.float32), np.zeros(1, bool), "m", "m|3")
    with pytest.raises(duckdb.Error), store.transaction() as conn:  # rolled back together
        write_embeddings(conn, meta, vectors, 3)
        conn.execute("SELECT error('boom')")
    with store.get_connection() as conn:
        assert conn.execute("SELECT count(*) FROM pool_embeddings").fetchone() == (0,)
        write_embeddings(conn, meta, vectors, 3)
        got = conn.sql("SELECT embedding FROM pool_vectors_3").to_arrow_table()
    kind = got.schema.field("embedding").type
    assert pa.types.is_fixed_size_list(kind) and kind.list_size == 3 and kind.value_type == pa.float32()


def test_a_schema_1_store_keeps_its_list_vectors(tmp_path) -> None:
    path = str(tmp_path / "old.duckdb")
    with duckdb.connect(path) as conn:  # pool_embeddings as schema 1 created it
        conn.execute(
            "CREATE TABLE pool_embeddings (shard VARCHAR NOT NULL, row_id VARCHAR NOT NULL, "
            "model VARCHAR NOT NULL, spec VARCHAR NOT NULL, dim INTEGER NOT NULL, "
            "truncated BOOLEAN NOT NULL, "
            "embedding FLOAT[] NOT NULL, embedded_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
        )
        conn.execute(
            "INSERT INTO pool_embeddings VALUES ('s', 'a', 'm', 'm|2', 2, false, [0.5, 0.75], now()), "
            "('s', 'b', 'n', 'n|3', 3, true, [1, 0, 0], now())"
        )
    with DuckDBStore(database=path).get_connection() as conn:
        assert conn.execute("SELECT spec, embedding FROM pool_vectors_2").fetchall() == [("m|2", (0.5, 0.75))]
        assert conn.execute("SELECT row_id, embedding FROM pool_vectors_3").fetchall() == [
            ("b", (1.0, 0.0, 0.0))
        ]
        assert conn.execute("SELECT row_id, dim FROM pool_embeddings ORDER BY row_id").fetchall() == [
            ("a", 2),
            ("b", 3),
        ]
