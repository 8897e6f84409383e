"""The offline default backend: llama.cpp's OpenAI-compatible server (xllamacpp) on a local GGUF.

It listens on a free 127.0.0.1 port only, batches concurrent requests continuously (n_parallel
slots), honours `response_format` json_schema by grammar, and stops when the context exits — so the
offline path is the same `openai` code path as a remote endpoint.
"""

from __future__ import annotations

import gc
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deita_assets.core.models import BUNDLED_LLM, bundled_gguf_path

LOCAL_BACKEND = "xllamacpp"


def resolve_gguf(model: str) -> Path:
    """The bundled alias or a path to a .gguf file."""
    if model == BUNDLED_LLM:
        return bundled_gguf_path()
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.resolve()
    raise ValueError(
        f"the local backend needs a GGUF file or {BUNDLED_LLM!r}, got {model!r}; "
        "set base_url to use a remote OpenAI-compatible endpoint instead"
    )


def wait_until_ready(base_url: str, timeout: float = 120.0) -> None:
    """Poll /health until the server answers ok (model loaded)."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base_url.rstrip("/") + "/health", timeout=5) as reply:
                if json.loads(reply.read() or b"{}").get("status") == "ok":
                    return
        except (urllib.error.URLError, OSError, ValueError) as error:
            last_error = str(error)
        time.sleep(0.2)
    raise TimeoutError(f"local LLM server at {base_url} not ready after {timeout:.0f}s: {last_error}")


@contextmanager
def local_llm_server(
    model: str = BUNDLED_LLM, n_ctx_per_slot: int = 4096, n_parallel: int = 4, n_threads: int = 2
) -> Iterator[str]:
    """Start the server, yield its OpenAI base URL (…/v1), stop it on exit."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(resolve_gguf(model))
    params.n_parallel = n_parallel
    params.n_ctx = n_ctx_per_slot * n_parallel  # llama.cpp splits the context across slots
    for cpu in (params.cpuparams, params.cpuparams_batch):
        cpu.n_threads = n_threads
        # No busy-polling: with other processes on the cores, llama.cpp's default spin-wait (poll=50)
        # measured 5 tokens/s here against 69-99 tokens/s without it.
        cpu.poll = 0
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # a free port, chosen by the server
    params.verbosity = 1
    server = xllamacpp.Server(params)
    try:
        address = server.listening_address.rstrip("/")
        wait_until_ready(address)
        yield address + "/v1"
    finally:
        del server  # the destructor stops the main loop and frees the model
        gc.collect()
