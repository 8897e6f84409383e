"""An OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks: scripted replies,
optional latency, fault injection and a request counter.

Faults are consumed in order, either globally (`faults`, by arrival) or for requests whose prompt
contains a marker (`faults_for`), so concurrent tests stay deterministic. Kinds: "429" (with
Retry-After), "500", "timeout" (sleeps past the client's timeout), "malformed_json", "garbage",
"truncated_body" (connection closed mid-body), "length" (finish_reason length, cut text), "empty",
"slow_body" (headers at once, then a valid reply one byte per `drip_seconds`: no single read waits
long, only the whole request does), "status_503".

It also answers the embeddings protocol (a body with `input`): one deterministic vector of
`embedding_dim` per text, derived from the text's hash; fault "wrong_dim" answers one width too wide.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Responder = Callable[[dict[str, Any]], str]


def echo_responder(body: dict[str, Any]) -> str:
    return "reply: " + body["messages"][-1]["content"]


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) serving `_handler_class()` while entered."""

    def _start(self) -> None:
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class LLMTestServer(LoopbackServer):
    def __init__(
        self,
        responder: Responder = echo_responder,
        latency: float = 0.0,
        faults: list[str] | None = None,
        faults_for: dict[str, list[str]] | None = None,
        retry_after: str = "1",
        timeout_sleep: float = 3.0,
        drip_seconds: float = 1.0,
        embedding_dim: int = 8,
    ) -> None:
        self.responder = responder
        self.latency = latency
        self.faults = list(faults or [])
        self.faults_for = {k: list(v) for k, v in (faults_for or {}).items()}
        self.retry_after = retry_after
        self.timeout_sleep = timeout_sleep
        self.drip_seconds = drip_seconds
        self.embedding_dim = embedding_dim
        self.requests = 0
        self.faults_served: Counter = Counter()
        self.authorizations: set[str] = set()
        self.bodies: list[dict[str, Any]] = []
        self._start()

    def _next_fault(self, body: dict[str, Any]) -> str | None:
        prompt = json.dumps(body.get("messages", body.get("input")))
        with self._lock:
            self.requests += 1
            self.bodies.append(body)
            for marker, queue in self.faults_for.items():
                if marker in prompt and queue:
                    return queue.pop(0)
            return self.faults.pop(0) if self.faults else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers+body as two writes wait ~40 ms for delayed ACK

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(
                self, status: int, payload: bytes, ctype: str = "application/json", **headers: str
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with server._lock:
                    server.authorizations.add(self.headers.get("Authorization", ""))
                fault = server._next_fault(body)
                if server.latency:
                    time.sleep(server.latency)
                if fault:
                    with server._lock:
                        server.faults_served[fault] += 1
                self._reply(body, fault)

            def _reply(self, body: dict[str, Any], fault: str | None) -> None:
                if fault == "429":
                    return self._send(
                        429, b'{"error": {"message": "slow down"}}', Retry_After=server.retry_after
                    )
                if fault == "500":
                    return self._send(500, b'{"error": {"message": "boom"}}')
                if fault == "status_503":
                    return self._send(503, b'{"error": {"message": "overloaded"}}')
                if fault == "timeout":
                    time.sleep(server.timeout_sleep)
                if fault == "malformed_json":
                    return self._send(200, b'{"choices": [{"message": {"content": "cut')
                if fault == "garbage":
                    return self._send(200, b"<html>upstream gateway said hello</html>", "text/html")
                if fault == "truncated_body":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "5000")
                    self.end_headers()
                    self.wfile.write(b'{"choices": [')
                    self.close_connection = True
                    return None
                if "input" in body:
                    return self._send(
                        200, json.dumps(embeddings_reply(body, server.embedding_dim, fault)).encode()
                    )
                text = server.responder(body)
                finish = "stop"
                if fault == "length":
                    text, finish = text[: max(1, len(text) // 2)], "length"
                elif fault == "empty":
                    text = ""
                reply = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": body.get("model", "test"),
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": finish,
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                    "usage": {
                        "prompt_tokens": sum(len(m["content"]) // 4 + 4 for m in body["messages"]),
                        "completion_tokens": max(1, len(text) // 4),
                    },
                }
                if fault == "slow_body":
                    return self._drip(json.dumps(reply).encode())
                return self._send(200, json.dumps(reply).encode())

            def _drip(self, payload: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.flush()
                try:
                    for i in range(len(payload)):
                        self.wfile.write(payload[i : i + 1])
                        self.wfile.flush()
                        time.sleep(server.drip_seconds)
                except OSError:  # the client gave up (its deadline): expected
                    self.close_connection = True

        return Handler


def text_vector(text: str, dim: int) -> list[float]:
    """A deterministic, not normalized vector for a text (the client must normalize it)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(digest[i % len(digest)] - 127.5) / 10 for i in range(dim)]


def embeddings_reply(body: dict[str, Any], dim: int, fault: str | None) -> dict[str, Any]:
    texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
    width = dim + 1 if fault == "wrong_dim" else dim
    data = [
        {"object": "embedding", "index": i, "embedding": text_vector(t, width)} for i, t in enumerate(texts)
    ]
    tokens = sum(len(t) // 4 + 1 for t in texts)
    return {
        "object": "list",
        "data": data[::-1],  # out of order on purpose: the client must sort by index
        "model": body.get("model", "test"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def serve_forever(latency: float) -> None:
    """Run a server in this process (benchmarks put it in its own process, like a real endpoint):
    prints the base URL, then a line with the request count on every `count` line read from stdin."""
    import sys

    with LLMTestServer(latency=latency) as server:
        print(server.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "count":
                print(server.requests, flush=True)


if __name__ == "__main__":
    import sys

    serve_forever(float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)
