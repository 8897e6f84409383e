"""LLM layer throughput: 1,000 requests to a loopback OpenAI-compatible server that adds 200 ms per
request, at concurrency 32, through the real resource path (DuckDB cache written as results arrive).
The server runs in its own process, as a real endpoint would, so it does not share our GIL.

Ideal wall time = 1000 / 32 × 0.2 s = 6.25 s; target ≤ 1.25 × ideal. Then the same 1,000 requests
again with the warm cache: the server must see 0 requests.

    PYTHONPATH=. python benchmarks/llm_throughput.py [--requests 1000] [--concurrency 32] [--latency 0.2]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deita_assets.core.llm_types import ChatRequest
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.store import DuckDBStore


class ServerProcess:
    """deita_assets_tests.support.llm_test_server in a subprocess; asks it for its request count."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.base_url = process.stdout.readline().strip()

    @property
    def requests(self) -> int:
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())


@contextmanager
def server_process(latency: float) -> Iterator[ServerProcess]:
    command = [sys.executable, "-m", "deita_assets_tests.support.llm_test_server", str(latency)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as process:
        try:
            yield ServerProcess(process)
        finally:
            process.stdin.close()
            process.wait(timeout=10)


def run_once(server: ServerProcess, store: DuckDBStore, requests: list[ChatRequest], concurrency: int):
    llm = LLMResource(
        store=store, base_url=server.base_url, model="bench", max_concurrency=concurrency, timeout=30
    )
    before = server.requests
    session_start = time.perf_counter()
    with llm.session() as session:
        start, cpu_start = time.perf_counter(), time.process_time()
        results = session.chat_many(requests)
        wall = time.perf_counter() - start
        usage = session.usage_metadata() | {"client_cpu_seconds": time.process_time() - cpu_start}
    with_setup = time.perf_counter() - session_start
    if not all(r.ok for r in results):
        raise RuntimeError([r.error_detail for r in results if not r.ok][:3])
    return wall, with_setup, server.requests - before, usage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    requests = [
        ChatRequest(({"role": "user", "content": f"benchmark question {i}"},), "bench-v1", max_tokens=16)
        for i in range(args.requests)
    ]
    ideal = args.requests / args.concurrency * args.latency
    with tempfile.TemporaryDirectory() as tmp, server_process(args.latency) as server:
        store = DuckDBStore(root=str(Path(tmp) / "store"))
        with store.get_connection():
            pass  # create the schema first: a one-off of the store, not of the LLM layer
        cold, cold_setup, cold_http, cold_usage = run_once(server, store, requests, args.concurrency)
        warm, warm_setup, warm_http, warm_usage = run_once(server, store, requests, args.concurrency)
    print(f"requests={args.requests} concurrency={args.concurrency} latency={args.latency * 1000:.0f} ms")
    print(
        f"cold: wall {cold:.2f} s, ideal {ideal:.2f} s, ratio {cold / ideal:.3f} (target <= 1.25), "
        f"HTTP requests {cold_http}, cache hits {cold_usage['llm_cache_hits']}, "
        f"client CPU {cold_usage['client_cpu_seconds']:.2f} s"
    )
    print(
        f"cold incl. session setup/teardown (client, first cache lookup): {cold_setup:.2f} s, "
        f"ratio {cold_setup / ideal:.3f}"
    )
    print(
        f"warm: wall {warm:.2f} s, HTTP requests {warm_http} (target 0), "
        f"cache hits {warm_usage['llm_cache_hits']}; incl. session setup/teardown {warm_setup:.2f} s"
    )
    print(f"speed-up warm vs cold: {cold / warm:.1f}x")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    print(f"machine load average (1/5/15 min): {' '.join(load)} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
