"""Rows written straight into the store for a test: each call its own partition unless `replaces`
names one an earlier call returned (then that partition is rewritten, as a test's UPDATE would)."""

import subprocess
import time
import uuid
from pathlib import Path

import pyarrow as pa

from deita_assets.resources.store import COMMITS, TEMP_PREFIX, DuckDBStore


def add_rows(store: DuckDBStore, table: str, rows: pa.Table, replaces: str | None = None) -> str:
    key = replaces or uuid.uuid4().hex
    store.replace_partition(table, ["test-rows", key], rows)
    return key


def pending_commit_pid(root: Path, process: subprocess.Popen | None = None, timeout: float = 120) -> int:
    """Wait until a writer sits between its data files and its commit pointer (the store's
    DEITA_STORE_PAUSE_BEFORE_COMMIT hook); returns that writer's pid, read from its temp file name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in (root / COMMITS).glob(f"*/{TEMP_PREFIX}*"):
            return int(path.name.removeprefix(TEMP_PREFIX).split("-")[1])
        if process is not None and process.poll() is not None:
            raise AssertionError(f"writer ended before its commit: {process.communicate()[1][-3000:]}")
        time.sleep(0.02)
    raise AssertionError("no writer reached its commit")
