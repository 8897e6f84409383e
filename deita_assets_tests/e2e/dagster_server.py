"""Run `dagster dev` (webserver + daemon) on a free loopback port and talk GraphQL to it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DagsterDev:
    url: str
    deita_home: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
        )
        if response.status_code != 200:
            raise AssertionError(f"GraphQL HTTP {response.status_code}: {response.text[:2000]}")
        body = response.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_dagster_dev(
    workdir: Path, extra_env: dict[str, str] | None = None, timeout: float = 180
) -> DagsterDev:
    """Start webserver and daemon with an isolated DEITA_HOME / DAGSTER_HOME under `workdir`."""
    deita_home = workdir / "deita_home"
    dagster_home = deita_home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    port = free_port()
    env = {
        **os.environ,
        "DEITA_HOME": str(deita_home),
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_STORAGE_DIR": str(dagster_home / "storage"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        **(extra_env or {}),
    }
    dagster = Path(sys.executable).parent / "dagster"
    log_path = workdir / "dagster_dev.log"
    command = [str(dagster), "dev", "-m", "deita_assets.definitions", "-h", "127.0.0.1", "-p", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = DagsterDev(f"http://127.0.0.1:{port}", deita_home, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited early:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/server_info", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(1)
    server.stop()
    raise TimeoutError(f"dagster dev did not answer within {timeout}s:\n{server.log_tail()}")
