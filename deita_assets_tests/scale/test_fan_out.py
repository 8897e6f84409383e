"""Fan-out on real celery workers: same tables as one process, and a SIGKILL mid-write is harmless."""

import json
import os
import signal
import time
from pathlib import Path

import dagster as dg
import pytest

from deita_assets.assets.embeddings import pool_embeddings
from deita_assets.assets.ingest import raw_pool
from deita_assets.core.ingest import file_digest, shard_key
from deita_assets.partitions import pool_shard
from deita_assets.paths import samples_dir
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.store import DuckDBStore
from deita_assets.scale import mapping_key
from deita_assets.scale_local import LocalCluster, redis_available, shard_tables

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not redis_available(),
        reason="redis-server is not installed (scripts/setup.sh installs scripts/apt-packages.txt as root)",
    ),
]


def write_inbox(home: Path, n_shards: int) -> list[str]:
    """The bundled GSM8K sample split into `n_shards` inbox files; returns their shard keys."""
    records = json.loads((samples_dir() / "gsm8k_alpaca_format" / "gsm_8k_train.json").read_text())
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    size = len(records) // n_shards
    keys = []
    for i in range(n_shards):
        path = inbox / f"gsm_{i}.json"
        path.write_text(json.dumps(records[i * size : (i + 1) * size]), encoding="utf-8")
        keys.append(shard_key(path.name, file_digest(path)))
    return keys


def single_process_tables(home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple]]:
    """The reference: every shard materialized one partition at a time in this process."""
    import torch

    monkeypatch.setenv("DEITA_HOME", str(home))
    keys = write_inbox(home, 3)
    store, threads = DuckDBStore(database=str(home / "deita.duckdb")), torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers, so the float reductions run in the same order
    try:
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(pool_shard.name, keys)
            for key in keys:
                for asset in (raw_pool, pool_embeddings):
                    resources = {"store": store, "embedder": EmbedderResource()}
                    assert dg.materialize(
                        [asset], partition_key=key, instance=instance, resources=resources
                    ).success
    finally:
        torch.set_num_threads(threads)
    return shard_tables(home / "deita.duckdb")


def _holds_wal(pid: int, database: Path) -> bool:
    """Whether the process has the store's write-ahead log open: DuckDB opens it when a transaction
    with changes commits (it buffers them in memory until then), and closes it with the connection."""
    wal = f"{database}.wal"
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == wal for fd in os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return False


def kill_worker_mid_write(cluster: LocalCluster, shard: str) -> int:
    """Start the shard's embedding run and SIGKILL whichever worker opens the store's WAL."""
    database = cluster.home / "deita.duckdb"
    coordinator = cluster.start_job("scale_pool_embeddings", [shard])
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and coordinator.poll() is None:
            for pid in cluster.worker_pids():
                if _holds_wal(pid, database):
                    os.kill(pid, signal.SIGKILL)
                    return pid
        pytest.fail("no worker was caught inside a write before the run ended")
    finally:
        coordinator.terminate()  # its step's worker is gone; the run ends as failed
        coordinator.communicate(timeout=120)


def test_two_workers_match_one_process_and_survive_sigkill(tmp_path: Path, monkeypatch) -> None:
    expected = single_process_tables(tmp_path / "reference", monkeypatch)
    home = tmp_path / "fan_out"
    keys = write_inbox(home, 3)
    with LocalCluster(home, workers=2) as cluster:
        cluster.run_job("scale_raw_pool", register_inbox=True)
        cluster.run_job("scale_pool_embeddings", keys[:2])
        logs = [(home / "scale_out" / f"worker{i}.log").read_text() for i in (1, 2)]
        killed = kill_worker_mid_write(cluster, keys[2])
        assert killed in cluster.worker_pids()
        after_kill = shard_tables(home / "deita.duckdb")
        for table in ("pool_embeddings", "pool_vectors_384"):  # the killed write landed whole or not at all
            landed = [row for row in after_kill[table] if row[0] == keys[2]]
            assert landed in ([], [row for row in expected[table] if row[0] == keys[2]])
        cluster.run_job("scale_pool_embeddings", [keys[2]])  # the re-run, on the surviving worker
    # Both workers ran steps: every shard's step ran in one of them, and each ran at least one.
    steps = [f"[{mapping_key(key)}]" for key in keys]
    assert all(any(step in log for log in logs) for step in steps[:2])
    assert all("succeeded in" in log for log in logs)
    assert shard_tables(home / "deita.duckdb") == expected
