"""A loopback cluster for the fan-out jobs: redis + N celery workers from scripts/scale_out/.

Used by the scale-out test and benchmark (and usable from a notebook): it runs the same scripts the
README tells a user to run, so what is tested is what is documented.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from deita_assets.resources.store import connect_readonly
from deita_assets.storage.paths import PACKAGE_DIR
from deita_assets.storage.sql import load_sql, load_sql_for_dim

SCRIPTS = PACKAGE_DIR.parent / "scripts" / "scale_out"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


class LocalCluster:
    """Broker and `workers` one-thread workers for the data home `home`; stopped on exit."""

    def __init__(
        self, home: Path, workers: int, port: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.home, self.workers, self.port = Path(home).resolve(), workers, port or free_port()
        dagster_home = self.home / "dagster"
        self.env = {
            **os.environ,
            "DEITA_HOME": str(self.home),
            "DEITA_REDIS_PORT": str(self.port),
            "DEITA_CELERY_BROKER": f"redis://127.0.0.1:{self.port}/0",
            "DAGSTER_HOME": str(dagster_home),
            "DAGSTER_STORAGE_DIR": str(dagster_home / "storage"),
            "DEITA_INBOX_SETTLE_SECONDS": "0",
            **(env or {}),
        }

    def _script(self, name: str, *args: str) -> None:
        subprocess.run(
            ["bash", str(SCRIPTS / name), *args], env=self.env, check=True, capture_output=True, timeout=300
        )

    def __enter__(self) -> LocalCluster:
        self._script("start_redis.sh")
        try:
            self._script("start_workers.sh", str(self.workers))
        except BaseException:
            self._script("stop.sh")
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self._script("stop.sh")

    def worker_pids(self) -> list[int]:
        state = self.home / "scale_out"
        return [int((state / f"worker{i}.pid").read_text()) for i in range(1, self.workers + 1)]

    def start_job(self, job: str, shards: list[str] | None = None, register_inbox: bool = False):
        """`dagster job execute` of a fan-out job (the run coordinator), as a running process."""
        config = {
            "ops": {"shard_keys": {"config": {"shards": shards or [], "register_inbox": register_inbox}}}
        }
        handle, path = tempfile.mkstemp(suffix=".yaml", dir=self.home)
        with os.fdopen(handle, "w") as out:
            yaml.safe_dump(config, out)
        dagster = str(Path(sys.executable).parent / "dagster")
        command = [dagster, "job", "execute", "-m", "deita_assets.definitions", "-j", job, "-c", path]
        return subprocess.Popen(
            command,
            env=self.env,
            cwd=PACKAGE_DIR.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run_job(self, job: str, shards: list[str] | None = None, register_inbox: bool = False) -> float:
        """Run a fan-out job to the end; returns its wall time in seconds (raises if it failed)."""
        started = time.perf_counter()
        process = self.start_job(job, shards, register_inbox)
        output, _ = process.communicate(timeout=1800)
        if process.returncode != 0 or "RUN_SUCCESS" not in output:
            raise RuntimeError(f"{job} failed:\n{output[-4000:]}")
        return time.perf_counter() - started


# Per-shard tables compared across runs (sql/scale_compare_*.sql leave out timestamps: when, not what).
SHARD_TABLES = ("pool", "quarantine", "pool_duplicates", "ingest_stats", "pool_embeddings")


def shard_tables(root: Path, dim: int = 384) -> dict[str, list[tuple]]:
    """Every row of the per-shard tables, through the store's lock-free reader (safe during runs)."""
    with connect_readonly(root) as conn:
        existing = {name for (name,) in conn.execute(load_sql("select_table_names")).fetchall()}
        rows = {
            name: conn.execute(load_sql(f"scale_compare_{name}")).fetchall()
            for name in SHARD_TABLES
            if name in existing
        }
        if f"pool_vectors_{dim}" in existing:
            rows[f"pool_vectors_{dim}"] = conn.execute(
                load_sql_for_dim("scale_compare_vectors", dim)
            ).fetchall()
        return rows
