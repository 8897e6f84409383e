"""Fan-out on real celery workers writing the shared Parquet store with no lock: same tables as one
process, and a worker SIGKILLed between its data files and its commit leaves correct tables."""

import json
import os
import signal
from pathlib import Path

import dagster as dg
import pytest

from deita_assets.app.scale_local import LocalCluster, redis_available, shard_tables
from deita_assets.assets.embeddings import pool_embeddings
from deita_assets.assets.ingest import raw_pool
from deita_assets.core.ingest import file_digest, shard_key
from deita_assets.orchestration.fan_out import mapping_key
from deita_assets.orchestration.partitions import pool_shard
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.store import PAUSE_ENV, DuckDBStore
from deita_assets.storage.paths import samples_dir
from deita_assets_tests.support.store_rows import pending_commit_pid

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
    store, threads = DuckDBStore(root=str(home / "store")), torch.get_num_threads()
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
    return shard_tables(home / "store")


def kill_worker_mid_write(cluster: LocalCluster, shard: str) -> int:
    """Start the shard's embedding run and SIGKILL the worker caught between writing its data files
    and replacing the commit pointer (the workers pause there: DEITA_STORE_PAUSE_BEFORE_COMMIT)."""
    coordinator = cluster.start_job("scale_pool_embeddings", [shard])
    try:
        pid = pending_commit_pid(cluster.home / "store", coordinator, timeout=600)
        assert pid in cluster.worker_pids()
        os.kill(pid, signal.SIGKILL)
        return pid
    finally:
        coordinator.terminate()  # its step's worker is gone; the run ends as failed
        coordinator.communicate(timeout=120)


def test_two_workers_match_one_process_and_survive_sigkill(tmp_path: Path, monkeypatch) -> None:
    expected = single_process_tables(tmp_path / "reference", monkeypatch)
    home = tmp_path / "fan_out"
    keys = write_inbox(home, 3)
    with LocalCluster(home, workers=2, env={PAUSE_ENV: "3"}) as cluster:
        cluster.run_job("scale_raw_pool", register_inbox=True)
        cluster.run_job("scale_pool_embeddings", keys[:2])
        logs = [(home / "scale_out" / f"worker{i}.log").read_text() for i in (1, 2)]
        killed = kill_worker_mid_write(cluster, keys[2])
        assert killed in cluster.worker_pids()
        after_kill = shard_tables(home / "store")  # read while the cluster runs: no lock
        for table in ("pool_embeddings", "pool_vectors_384"):  # the killed write landed whole or not at all
            landed = [row for row in after_kill[table] if row[0] == keys[2]]
            assert landed in ([], [row for row in expected[table] if row[0] == keys[2]])
        cluster.run_job("scale_pool_embeddings", [keys[2]])  # the re-run, on the surviving worker
    # Both workers ran steps: every shard's step ran in one of them, and each ran at least one.
    steps = [f"[{mapping_key(key)}]" for key in keys]
    assert all(any(step in log for log in logs) for step in steps[:2])
    assert all("succeeded in" in log for log in logs)
    assert shard_tables(home / "store") == expected
