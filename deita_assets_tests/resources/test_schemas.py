"""One declaration per table: the Arrow schema the assets type their rows with is the DDL's, and it is
what the store's Parquet files hold, so a column changed in `sql/create_*.sql` changes both."""

import json
import re
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deita_assets.resources.store import DuckDBStore, table_schema, typed_rows
from deita_assets.storage.paths import sql_dir
from deita_assets_tests.conftest import REPO_ROOT

DDL_TABLES = sorted(
    re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", path.read_text(encoding="utf-8")).group(1)
    for path in sql_dir().glob("create_*.sql")
)


def one_value(kind: pa.DataType) -> Any:
    """A non-null value of an Arrow type (every type the DDL uses), so NOT NULL columns accept it."""
    if pa.types.is_list(kind):
        return [one_value(kind.value_type)]
    if pa.types.is_struct(kind):
        return {field.name: one_value(field.type) for field in kind}
    if pa.types.is_string(kind):
        return "x"
    if pa.types.is_boolean(kind):
        return True
    if pa.types.is_integer(kind):
        return 1
    if pa.types.is_floating(kind):
        return 0.5
    if pa.types.is_timestamp(kind):
        return datetime(2026, 12, 3, 12, 0)
    raise AssertionError(f"no test value for {kind}: a new DDL type needs one here")


def test_every_create_file_declares_one_table() -> None:
    assert len(DDL_TABLES) == len(list(sql_dir().glob("create_*.sql"))) == len(set(DDL_TABLES))
    assert {"pool", "pool_scores", "selection", "mods_selection", "scorer_eval"} <= set(DDL_TABLES)


@pytest.mark.parametrize("table", DDL_TABLES)
def test_the_derived_schema_is_the_schema_of_the_parquet_file_the_store_writes(
    store: DuckDBStore, table: str
) -> None:
    """One row, NULL wherever the DDL allows it: DuckDB marks a Parquet column required when the file
    holds no NULL in it, so only such a row shows the DDL's nullability in the file; a row with every
    column set shows the same names, order and types."""
    schema = table_schema(table)
    sparse = {field.name: None if field.nullable else one_value(field.type) for field in schema}
    full = {field.name: one_value(field.type) for field in schema}
    for key, row in (("sparse", sparse), ("full", full)):
        store.commit(table, [key], {table: pa.Table.from_pylist([row], schema=schema)})
    sparse_file, full_file = (store.path / relative for relative in committed(store, table, "sparse", "full"))
    assert pq.read_schema(sparse_file).equals(schema), (
        f"{table}: DDL {schema}\nParquet {pq.read_schema(sparse_file)}"
    )
    assert [(f.name, f.type) for f in pq.read_schema(full_file)] == [(f.name, f.type) for f in schema]
    assert pq.read_table(sparse_file).to_pylist() == [sparse]
    assert pq.read_table(full_file).to_pylist() == [full]


def committed(store: DuckDBStore, table: str, *keys: str) -> list[str]:
    """The data file each partition's commit pointer names for `table`."""
    pointers = {
        json.loads(path.read_text(encoding="utf-8"))["key"][0]: path
        for path in (store.path / "_commits" / table).glob("*.json")
    }
    return [json.loads(pointers[key].read_text(encoding="utf-8"))["tables"][table] for key in keys]


def test_not_null_and_column_order_come_from_the_ddl() -> None:
    schema = table_schema("pool_scores")
    assert schema.names[:3] == ["shard", "row_id", "source"] and schema.names[-1] == "scored_at"
    assert not schema.field("shard").nullable and schema.field("source").nullable
    assert schema.field("complexity").type == pa.list_(pa.float64())
    assert schema.field("n_turns").type == pa.int32()
    # CREATE TABLE ... AS SELECT keeps the types but not the constraints: the DDL says so, so do we
    assert table_schema("mods_selection").names == [
        n for n in table_schema("selection").names if n != "strategy"
    ]


def test_typed_rows_leaves_defaulted_columns_to_the_store_and_refuses_missing_not_null(
    store: DuckDBStore,
) -> None:
    row = {"shard": "s", "row_id": "r", "status": "ok", "scorer": "lm", "n_turns": 2, "complexity": [1.5]}
    typed = typed_rows("pool_scores", [row])
    assert "scored_at" not in typed.column_names and typed.schema.field("n_turns").type == pa.int32()
    store.replace_partition("pool_scores", ["s"], typed)
    with store.get_connection() as conn:
        assert conn.execute("SELECT n_turns, scored_at IS NOT NULL FROM stored.pool_scores").fetchall() == [
            (2, True)
        ]
    # a row that sets a defaulted column keeps its value (scorer_eval.trained is NOT NULL DEFAULT TRUE)
    evals = typed_rows(
        "scorer_eval", [{"dimension": "quality", "scorer_kind": "lm", "model_path": "m", "trained": False}]
    )
    assert evals.column("trained").to_pylist() == [False] and "trained_at" not in evals.column_names
    with pytest.raises(duckdb.ConstraintException, match=r"NOT NULL constraint failed: pool_scores\.scorer"):
        store.replace_partition("pool_scores", ["t"], typed_rows("pool_scores", [{**row, "scorer": None}]))
    assert typed_rows("pool_scores", []).num_rows == 0


def test_no_module_spells_a_stored_tables_schema_again() -> None:
    """Columns are declared once, in sql/create_*.sql: an Arrow schema literal beside it would drift."""
    package = REPO_ROOT / "deita_assets"
    store_module = package / "resources" / "store.py"
    spelled = [
        f"{path.relative_to(REPO_ROOT)}:{n}"
        for path in sorted(package.rglob("*.py"))
        if path != store_module
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "pa.schema(" in line
    ]
    assert spelled == [], f"use table_schema()/typed_rows() from the store instead: {spelled}"
