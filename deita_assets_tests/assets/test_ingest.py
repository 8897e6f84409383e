"""raw_pool materializations: tables, metadata, re-runs, kills, concurrency, the sensor, ../shared/data."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import dagster as dg
import pytest

from deita_assets.app.cli import main as cli_main
from deita_assets.app.quickstart import register_inbox_shards
from deita_assets.assets.ingest import CHECK_NAME, raw_pool
from deita_assets.core.ingest import file_digest, shard_key
from deita_assets.orchestration.partitions import pool_shard
from deita_assets.orchestration.sensors import inbox_sensor
from deita_assets.resources.store import DuckDBStore
from deita_assets_tests.support.store_rows import pending_commit_pid

REPO_ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT_SQL = {
    "pool": "SELECT shard, row_id, source, source_file, position, format, turns, n_turns, n_chars "
    "FROM pool ORDER BY row_id",
    "quarantine": "SELECT shard, source, source_file, position, reason, detail, raw FROM quarantine "
    "ORDER BY shard, position",
    "pool_duplicates": "SELECT * FROM pool_duplicates ORDER BY shard, position",
    "ingest_stats": "SELECT * EXCLUDE (ingested_at) FROM ingest_stats ORDER BY shard",
}


def snapshot(store: DuckDBStore) -> dict[str, list]:
    with store.get_connection() as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in SNAPSHOT_SQL.items()}


def alpaca_rows(start: int, stop: int) -> list[dict]:
    return [
        {"instruction": f"Question {i}?", "input": "", "output": f"Answer {i}."} for i in range(start, stop)
    ]


def put(inbox: Path, name: str, text: str) -> str:
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_text(text, encoding="utf-8")
    return shard_key(name, file_digest(path))


def materialize(
    instance: dg.DagsterInstance, store: DuckDBStore, key: str, **kwargs
) -> dg.ExecuteInProcessResult:
    if not instance.has_dynamic_partition(pool_shard.name, key):
        instance.add_dynamic_partitions(pool_shard.name, [key])
    return dg.materialize(
        [raw_pool], partition_key=key, instance=instance, resources={"store": store}, **kwargs
    )


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_materialize_writes_tables_metadata_and_check(deita_home: Path, store: DuckDBStore, instance) -> None:
    rows = [*alpaca_rows(0, 3), alpaca_rows(0, 1)[0], {"instruction": "prompt only"}]
    key = put(deita_home / "inbox", "demo__a.json", json.dumps(rows))
    result = materialize(instance, store, key)
    assert result.success
    metadata = result.asset_materializations_for_node("raw_pool")[0].metadata
    assert metadata["dagster/row_count"].value == 3
    assert metadata["rows_read"].value == 5
    assert metadata["duplicates_within_shard"].value == 1
    assert metadata["rows_quarantined"].value == 1
    assert "no_assistant_turn" in metadata["quarantine_by_reason"].value
    assert "Question 0?" in metadata["preview"].value
    assert [c.name for c in metadata["dagster/column_schema"].value.columns][:2] == ["shard", "row_id"]
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [(CHECK_NAME, True)]
    snap = snapshot(store)
    assert [r[2] for r in snap["pool"]] == ["demo"] * 3
    assert snap["pool"][0][6] == [
        {"role": "user", "content": snap["pool"][0][6][0]["content"]},
        {"role": "assistant", "content": snap["pool"][0][6][1]["content"]},
    ]
    assert [(r[3], r[4]) for r in snap["quarantine"]] == [(4, "no_assistant_turn")]
    assert [r[3] for r in snap["pool_duplicates"]] == ["within_shard"]


def test_rematerializing_gives_identical_tables(deita_home: Path, store: DuckDBStore, instance) -> None:
    a = put(deita_home / "inbox", "s__a.jsonl", "".join(json.dumps(r) + "\n" for r in alpaca_rows(0, 50)))
    b = put(deita_home / "inbox", "s__b.json", json.dumps([*alpaca_rows(25, 75), "bad"]))
    assert materialize(instance, store, a).success and materialize(instance, store, b).success
    first = snapshot(store)
    assert len(first["pool"]) == 75
    assert materialize(instance, store, b).success and materialize(instance, store, a).success
    assert snapshot(store) == first


def test_cross_shard_duplicates_are_kept_once_and_counted(
    deita_home: Path, store: DuckDBStore, instance
) -> None:
    a = put(deita_home / "inbox", "x__a.json", json.dumps(alpaca_rows(0, 10)))
    b = put(deita_home / "inbox", "y__b.json", json.dumps(alpaca_rows(5, 15)))
    materialize(instance, store, a)
    result = materialize(instance, store, b)
    metadata = result.asset_materializations_for_node("raw_pool")[0].metadata
    assert metadata["duplicates_across_shards"].value == 5
    assert metadata["dagster/row_count"].value == 5
    snap = snapshot(store)
    assert len(snap["pool"]) == 15
    assert {r[4] for r in snap["pool_duplicates"]} == {a}


def test_unreadable_shard_fails_with_the_file_name(deita_home: Path, store: DuckDBStore, instance) -> None:
    inbox = deita_home / "inbox"
    inbox.mkdir()
    (inbox / "z__bad.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    key = shard_key("z__bad.jsonl.gz", file_digest(inbox / "z__bad.jsonl.gz"))
    result = materialize(instance, store, key, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "z__bad.jsonl.gz" in str(failure.event_specific_data.error)


WORKER = r"""
import json, os, sys, time
from pathlib import Path
import dagster as dg
from deita_assets.assets import ingest as stage
from deita_assets.resources.store import PAUSE_ENV, DuckDBStore

root, inbox, key, signal_file, mode = sys.argv[1:6]
if mode == "hang":  # stop between the data files and the commit pointer until killed
    os.environ[PAUSE_ENV] = "300"
else:  # wait at a barrier so both workers start materializing together
    Path(signal_file + "." + key).write_text("ready")
    while not Path(signal_file).exists():
        time.sleep(0.01)
instance = dg.DagsterInstance.ephemeral()
instance.add_dynamic_partitions("pool_shard", [key])
start = time.time()
result = dg.materialize([stage.raw_pool], partition_key=key, instance=instance,
    resources={"store": DuckDBStore(root=root)},
    run_config={"ops": {"raw_pool": {"config": {"inbox": inbox}}}})
print(json.dumps({"ok": result.success, "start": start, "end": time.time()}))
"""


def spawn(store: DuckDBStore, inbox: Path, key: str, signal_file: Path, mode: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, "-c", WORKER, store.root, str(inbox), key, str(signal_file), mode]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_shards_in_two_processes_at_once(deita_home: Path, store: DuckDBStore, tmp_path: Path) -> None:
    inbox = deita_home / "inbox"
    a = put(inbox, "p__a.jsonl", "".join(json.dumps(r) + "\n" for r in alpaca_rows(0, 20_000)))
    b = put(inbox, "q__b.jsonl", "".join(json.dumps(r) + "\n" for r in alpaca_rows(10_000, 30_000)))
    barrier = tmp_path / "go"
    workers = [spawn(store, inbox, key, barrier, "barrier") for key in (a, b)]
    deadline = time.time() + 120
    while not all(Path(f"{barrier}.{k}").exists() for k in (a, b)):
        assert time.time() < deadline and all(w.poll() is None for w in workers), "workers did not start"
        time.sleep(0.05)
    barrier.write_text("go")
    outputs = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    assert all(o["ok"] for o in outputs)
    (s1, e1), (s2, e2) = ((o["start"], o["end"]) for o in outputs)
    assert s1 < e2 and s2 < e1, "the two materializations did not overlap in time"
    snap = snapshot(store)
    assert len(snap["pool"]) == 30_000 == len({r[1] for r in snap["pool"]})
    stats = {r[0]: r for r in snap["ingest_stats"]}
    columns = ["shard", "source", "source_file", "content_hash", "container", "rows_read", "rows_kept"]
    kept = {k: stats[k][columns.index("rows_kept")] for k in (a, b)}
    assert sum(kept.values()) == 30_000 and sorted(kept.values()) == [10_000, 20_000]
    assert len(snap["pool_duplicates"]) == 10_000


def test_sigkill_during_a_shard_write_then_rerun(
    deita_home: Path, store: DuckDBStore, instance, tmp_path
) -> None:
    inbox = deita_home / "inbox"
    key = put(inbox, "k__a.jsonl", "".join(json.dumps(r) + "\n" for r in [*alpaca_rows(0, 2000), "prompt"]))
    assert materialize(instance, store, key).success
    good = snapshot(store)
    worker = spawn(store, inbox, key, tmp_path / "unused", "hang")
    assert pending_commit_pid(store.path, worker) == worker.pid
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    assert snapshot(store) == good  # the killed rewrite's files are in place, but never committed
    assert materialize(instance, store, key).success  # the rerun replaces the old commit
    assert snapshot(store) == good
    shutil.rmtree(store.path)  # and the same shard from scratch after a kill
    assert materialize(instance, store, key).success
    assert snapshot(store) == good


def test_sensor_new_file_once_and_cursor_survives(deita_home: Path, instance, monkeypatch) -> None:
    monkeypatch.setenv("DEITA_INBOX_SETTLE_SECONDS", "0")
    key = put(deita_home / "inbox", "s__one.json", json.dumps(alpaca_rows(0, 3)))
    first = inbox_sensor(dg.build_sensor_context(instance=instance))
    assert [r.partition_key for r in first.run_requests] == [key]
    assert [r.partition_keys for r in first.dynamic_partitions_requests] == [[key]]
    instance.add_dynamic_partitions(pool_shard.name, [key])  # what the daemon does with the request
    again = inbox_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert again.run_requests == [] and again.dynamic_partitions_requests == []
    # Restart: a fresh context with the stored cursor, and even with the cursor lost.
    with dg.instance_for_test() as other:
        other.add_dynamic_partitions(pool_shard.name, [key])
        assert inbox_sensor(dg.build_sensor_context(instance=other, cursor=first.cursor)).run_requests == []
        assert inbox_sensor(dg.build_sensor_context(instance=other)).run_requests == []
    second = put(deita_home / "inbox", "s__two.jsonl", json.dumps(alpaca_rows(5, 6)[0]) + "\n")
    later = inbox_sensor(dg.build_sensor_context(instance=instance, cursor=again.cursor))
    assert [r.partition_key for r in later.run_requests] == [second]
    assert inbox_sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_register_without_daemon_then_sensor_adds_nothing(deita_home: Path, instance, monkeypatch) -> None:
    monkeypatch.setenv("DEITA_INBOX_SETTLE_SECONDS", "0")
    key = put(deita_home / "inbox", "s__one.json", json.dumps(alpaca_rows(0, 3)))
    assert register_inbox_shards(instance, deita_home / "inbox") == [key]
    assert register_inbox_shards(instance, deita_home / "inbox") == []
    assert inbox_sensor(dg.build_sensor_context(instance=instance)).run_requests == []


def test_forced_record_format_via_run_config(deita_home: Path, store: DuckDBStore, instance) -> None:
    row = {"instruction": "i", "output": "o", "prompt": "p", "completion": "c"}
    key = put(deita_home / "inbox", "f__a.jsonl", json.dumps(row) + "\n")
    config = {"ops": {"raw_pool": {"config": {"record_format": "alpaca"}}}}
    assert materialize(instance, store, key, run_config=config).success
    assert [(r[5], r[6][0]["content"]) for r in snapshot(store)["pool"]] == [("alpaca", "i")]


def _documented_rows(shared_data: Path) -> dict[str, int]:
    """Rows per source (top folder) from SOURCES.md: table rows plus the per-folder sections."""
    text = (shared_data / "SOURCES.md").read_text(encoding="utf-8")
    rows: Counter[str] = Counter()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and "/" in cells[0] and cells[5].isdigit() and not cells[0].startswith("eval/"):
            rows[cells[0].split("/")[0]] += int(cells[5])
    for folder, total in re.findall(r"^## (\w+)/.*?total rows: (\d+)", text, flags=re.M | re.S):
        rows[folder] += int(total)
    return dict(rows)


@pytest.mark.shared_data
def test_all_of_shared_data(
    shared_data: Path, deita_home: Path, store: DuckDBStore, instance, monkeypatch
) -> None:
    monkeypatch.setenv("DEITA_INBOX_SETTLE_SECONDS", "0")
    assert cli_main(["ingest", str(shared_data)]) == 0
    tick = inbox_sensor(dg.build_sensor_context(instance=instance))
    keys = [r.partition_key for r in tick.run_requests]
    assert len(keys) == 16  # 14 files + the T0 and ShareGPT folders bundled into one shard each
    instance.add_dynamic_partitions(pool_shard.name, keys)
    for key in keys:
        result = dg.materialize([raw_pool], partition_key=key, instance=instance, resources={"store": store})
        assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    with store.get_connection() as conn:
        stats = conn.execute(
            "SELECT source, sum(rows_read), sum(rows_kept), sum(rows_quarantined),"
            " sum(duplicates_within_shard + duplicates_across_shards) FROM ingest_stats GROUP BY source"
        ).fetchall()
        reasons = conn.execute("SELECT source, reason, count(*) FROM quarantine GROUP BY ALL").fetchall()
        pool_rows, distinct = conn.execute("SELECT count(*), count(DISTINCT row_id) FROM pool").fetchall()[0]
        malformed = conn.execute(
            "SELECT source_file, count(*) FROM quarantine WHERE reason = 'malformed_json'"
            " GROUP BY ALL ORDER BY 1"
        ).fetchall()
    documented = _documented_rows(shared_data)
    assert len(documented) == 11 and sum(documented.values()) == 90_451
    by_source = {s: (read, kept, quarantined, dups) for s, read, kept, quarantined, dups in stats}
    assert {s: v[0] for s, v in by_source.items()} == documented
    assert all(read == kept + q + d for read, kept, q, d in by_source.values())
    quarantine: dict[str, dict[str, int]] = defaultdict(dict)
    for source, reason, n in reasons:
        quarantine[source][reason] = n
    assert dict(quarantine) == {
        "instructionwild": {"malformed_json": 5, "no_assistant_turn": 873},  # prompt-only + broken lines
        "oasst_samples": {"no_assistant_turn": 250},  # prompt-only JSON strings
        "alpaca": {"empty_field": 2},  # rows released with output ""
        "codealpaca": {"empty_field": 2},  # rows released with output ""
        "hh_rlhf": {"no_assistant_turn": 3},  # transcripts ending in an empty "Assistant:"
        "self_instruct_t0": {"empty_field": 1400},  # 7 trec templates whose completion is only <|endoftext|>
        "sharegpt92k_sample": {"unknown_format": 2, "no_user_turn": 9},  # 2 bookkeeping files, 9 answer-only
    }
    assert malformed == [
        ("instructionwild__data_v2_user_2.jsonl", 2),
        ("instructionwild__data_v2_user_3.jsonl", 3),
    ]
    kept_total = sum(v[1] for v in by_source.values())
    assert pool_rows == distinct == kept_total
    assert kept_total == 90_451 - 2_546 - sum(v[3] for v in by_source.values())
