"""The Parquet store: atomic partition commits, SIGKILL mid-write, hostile keys, concurrent writers
and readers that neither wait nor make anyone wait."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from deita_assets.assets.embeddings import embedding_rows, write_embeddings
from deita_assets.assets.ingest import write_shard
from deita_assets.core.ingest import ingest_file
from deita_assets.resources.store import PAUSE_ENV, DuckDBStore, connect_readonly
from deita_assets.storage.sql import load_sql_for_dim
from deita_assets_tests.conftest import REPO_ROOT
from deita_assets_tests.support.store_rows import pending_commit_pid


def metrics(strategy: str, *values: float) -> pa.Table:
    n = len(values)
    return pa.table(
        {
            "strategy": [strategy] * n,
            "benchmark": ["b"] * n,
            "metric": [f"m{i}" for i in range(n)],
            "value": values,
        }
    )


def rows_of(store: DuckDBStore, sql: str) -> list[tuple]:
    with store.get_connection() as conn:
        return conn.execute(sql).fetchall()


def test_replace_partition_is_idempotent_and_empty_tables_keep_their_columns(store: DuckDBStore) -> None:
    assert store.fetch_arrow("select_evaluation").column_names[:4] == [
        "strategy",
        "benchmark",
        "metric",
        "value",
    ]
    for _ in range(2):
        store.replace_partition("evaluation", ["a"], metrics("a", 1.0, 2.0))
    store.replace_partition("evaluation", ["b"], metrics("b", 3.0))
    assert rows_of(store, "SELECT strategy, count(*) FROM evaluation GROUP BY ALL ORDER BY ALL") == [
        ("a", 2),
        ("b", 1),
    ]
    store.replace_partition("evaluation", ["a"], metrics("a").slice(0, 0))  # emptied, b untouched
    assert rows_of(store, "SELECT strategy FROM evaluation") == [("b",)]


def test_hostile_partition_keys_stay_inside_their_table_folder(store: DuckDBStore) -> None:
    keys = ["../../../etc/passwd", "a/b", "x" * 500, "\x00'; DROP TABLE pool; --", "a_b", "a/b "]
    for key in keys:
        store.replace_partition("evaluation", [key], metrics(key, 1.0))
    got = sorted(r[0] for r in rows_of(store, "SELECT strategy FROM evaluation"))
    assert got == sorted(keys)
    files = [p for p in store.path.rglob("*") if p.is_file()]
    assert all(p.parent in (store.path / "evaluation", store.path / "_commits" / "evaluation") for p in files)
    with pytest.raises(ValueError):
        store.replace_partition("../pool", ["a"], metrics("a", 1.0))


def test_vector_tables_are_fixed_width_and_only_take_a_validated_width(store: DuckDBStore) -> None:
    assert "FLOAT[384]" in load_sql_for_dim("vectors_create_table", np.int64(384))
    for bad in ("384", 0, -1, 3.0, True, "8]); DROP TABLE pool; --"):
        with pytest.raises((TypeError, ValueError)):
            load_sql_for_dim("vectors_create_table", bad)
    meta, vectors = embedding_rows(["s"], ["r"], np.ones((1, 3), np.float32), np.zeros(1, bool), "m", "m|3")
    write_embeddings(store, meta, vectors)
    with store.get_connection() as conn:
        got = conn.sql("SELECT embedding, embedding_rowid FROM pool_vectors_3").to_arrow_table()
    kind = got.schema.field("embedding").type
    assert pa.types.is_fixed_size_list(kind) and kind.list_size == 3 and kind.value_type == pa.float32()


WRITER = r"""
import sys
import pyarrow as pa
from deita_assets.resources.store import DuckDBStore
root, strategy, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = DuckDBStore(root=root)
for i in range(n):
    rows = pa.table({"strategy": [strategy], "benchmark": ["b"], "metric": [f"m{i}"], "value": [float(i)]})
    answers = pa.table({"strategy": [strategy], "item_id": [str(i)], "turn": [0], "question": ["q"],
                        "answer": ["x"], "model_path": ["p"]})
    store.commit("evaluation", [strategy, i], {"evaluation": rows, "eval_answers": answers})
"""


def spawn(script: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    path = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    full_env = {**os.environ, "PYTHONPATH": path, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], env=full_env, stderr=subprocess.PIPE, text=True
    )


def test_sigkill_between_data_files_and_commit_leaves_the_old_partition(store: DuckDBStore) -> None:
    store.commit("evaluation", ["k", 0], {"evaluation": metrics("old", 1.0)})
    before = rows_of(store, "SELECT * FROM evaluation")
    writer = spawn(WRITER, store.root, "k", "1", env={PAUSE_ENV: "300"})
    assert pending_commit_pid(store.path, writer) == writer.pid
    assert rows_of(store, "SELECT * FROM evaluation") == before  # a reader during the write: old state
    writer.send_signal(signal.SIGKILL)
    writer.communicate(timeout=30)
    assert rows_of(store, "SELECT * FROM evaluation") == before
    assert rows_of(store, "SELECT count(*) FROM eval_answers") == [(0,)]  # neither table of the commit
    assert writer.returncode == -signal.SIGKILL
    rerun = spawn(WRITER, store.root, "k", "1")
    assert rerun.wait(timeout=60) == 0
    assert rows_of(store, "SELECT strategy, metric FROM evaluation") == [("k", "m0")]
    assert rows_of(store, "SELECT count(*) FROM eval_answers") == [(1,)]
    leftovers = DuckDBStore(root=store.root, keep_superseded_seconds=0)
    leftovers.commit("evaluation", ["k", 0], {"evaluation": metrics("k", 2.0)})
    names = [p.name for p in (store.path / "evaluation").iterdir()]
    assert len(names) == 1 and not names[0].startswith(".tmp-")  # killed and superseded files collected


def test_two_processes_write_concurrently_with_no_waits_and_no_lost_writes(store: DuckDBStore) -> None:
    started = time.perf_counter()
    writers = [spawn(WRITER, store.root, name, "40") for name in ("p", "q")]
    with connect_readonly(store.root) as reader:  # a notebook open during the writes
        while any(w.poll() is None for w in writers):
            reader.execute("SELECT count(*) FROM evaluation").fetchall()
            with store.get_connection() as fresh:  # and fresh readers: never an error
                fresh.execute("SELECT count(*) FROM evaluation JOIN eval_answers USING (strategy)").fetchall()
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.communicate()[1][-2000:]
    got = rows_of(
        store, "SELECT strategy, count(*), count(DISTINCT metric) FROM evaluation GROUP BY 1 ORDER BY 1"
    )
    assert got == [("p", 40, 40), ("q", 40, 40)]
    assert time.perf_counter() - started < 120


def test_a_notebook_reader_never_blocks_a_write(store: DuckDBStore) -> None:
    """Issue 13.7: a reader holds nothing a writer waits for (the old store made it wait 600 s)."""
    store.replace_partition("evaluation", ["a"], metrics("a", 1.0))
    with connect_readonly(store.root) as notebook:
        assert notebook.execute("SELECT count(*) FROM evaluation").fetchall() == [(1,)]
        started = time.perf_counter()
        store.replace_partition("evaluation", ["a"], metrics("a", 1.0, 2.0))
        assert time.perf_counter() - started < 5
        assert notebook.execute("SELECT count(*) FROM evaluation").fetchall() == [(1,)]  # its snapshot
    assert rows_of(store, "SELECT count(*) FROM evaluation") == [(2,)]


def test_cross_shard_dedup_is_the_same_for_any_write_order(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rows = [{"instruction": f"Q{i}?", "input": "", "output": f"A{i}."} for i in range(30)]
    files = {"a": rows[0:20], "b": rows[10:30] + rows[10:12], "c": rows[5:15]}
    results = {}
    for name, part in files.items():
        path = inbox / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
        results[name] = ingest_file(path)
    snapshots = []
    for order in (["a", "b", "c"], ["c", "b", "a"]):
        store = DuckDBStore(root=str(tmp_path / ("store_" + "".join(order))))
        for name in order:
            write_shard(store, name, results[name])
        snapshots.append(
            {
                table: rows_of(store, f"SELECT * EXCLUDE ({stamp}) FROM {table} ORDER BY ALL")
                for table, stamp in (("pool", "ingested_at"), ("ingest_stats", "ingested_at"))
            }
            | {"pool_duplicates": rows_of(store, "SELECT * FROM pool_duplicates ORDER BY ALL")}
        )
        accounting = rows_of(
            store,
            "SELECT bool_and(rows_read = rows_kept + rows_quarantined + duplicates_within_shard"
            " + duplicates_across_shards) FROM ingest_stats",
        )
        assert accounting == [(True,)]
    assert snapshots[0] == snapshots[1]
    assert len(snapshots[0]["pool"]) == 30 == len({r[1] for r in snapshots[0]["pool"]})


def test_llm_cache_appends_and_the_latest_reply_wins(store: DuckDBStore) -> None:
    def batch(text: str) -> pa.Table:
        return pa.table(
            {
                "request_key": ["k1", "k2"],
                "backend": ["b"] * 2,
                "model": ["m"] * 2,
                "template_version": ["1"] * 2,
                "request_json": ["{}"] * 2,
                "response_text": [text, "same"],
            }
        )

    store.append("llm_cache", batch("rejected"))
    time.sleep(0.01)
    store.append("llm_cache", batch("accepted"))
    got = rows_of(store, "SELECT request_key, response_text FROM llm_cache ORDER BY 1")
    assert got == [("k1", "accepted"), ("k2", "same")]
    assert len(list((store.path / "_append" / "llm_cache").iterdir())) == 2


def test_a_version_3_store_is_refused_with_how_to_rebuild(deita_home: Path) -> None:
    (deita_home / "deita.duckdb").write_bytes(b"old store")
    with pytest.raises(RuntimeError, match=r"schema version <= 3.*mv .*deita.duckdb.*re-materialize"):
        DuckDBStore(root=str(deita_home / "store")).fetch_arrow("select_evaluation")


def test_artifacts_folder_is_the_stores_field_with_the_old_layout(deita_home: Path, tmp_path: Path) -> None:
    assert (
        DuckDBStore().artifacts_dir("selection", "deita")
        == deita_home.resolve() / "artifacts/selection/deita"
    )
    moved = DuckDBStore(root=str(tmp_path / "s"), artifacts_root=str(tmp_path / "a"))
    assert moved.artifacts_dir("pool_scores").is_dir() and moved.artifacts_dir() == tmp_path / "a"
