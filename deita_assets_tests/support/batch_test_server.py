"""An OpenAI-compatible Files + Batches server on 127.0.0.1 for tests: upload, create, retrieve
(in_progress for `polls_before_done` retrieves, then `final_status`), content of output/error files.

Scripting: `done_lines` caps how many lines get an output line (the rest: none, as in an expired
batch); prompts containing a marker in `line_status` get an error-file line with that HTTP status;
those containing a marker in `garbage_for` get a 200 line whose body is not a chat completion.
"""

from __future__ import annotations

import json
from collections import Counter
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any

from deita_assets_tests.support.llm_test_server import LoopbackServer, Responder, echo_responder


class BatchTestServer(LoopbackServer):
    def __init__(
        self,
        responder: Responder = echo_responder,
        polls_before_done: int = 1,
        final_status: str = "completed",
        done_lines: int | None = None,
        line_status: dict[str, int] | None = None,
        garbage_for: tuple[str, ...] = (),
    ) -> None:
        self.responder = responder
        self.polls_before_done = polls_before_done
        self.final_status = final_status
        self.done_lines = done_lines
        self.line_status = dict(line_status or {})
        self.garbage_for = garbage_for
        self.calls: Counter = Counter()
        self.files: dict[str, str] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._polls: Counter = Counter()
        self._start()

    def _file(self, content: str, purpose: str) -> dict[str, Any]:
        file_id = f"file-{len(self.files)}"
        self.files[file_id] = content
        return {"id": file_id, "object": "file", "bytes": len(content), "created_at": 0} | {
            "filename": f"{file_id}.jsonl",
            "purpose": purpose,
            "status": "processed",
        }

    def _run(self, batch: dict[str, Any]) -> None:
        """Answer the input file once the batch ends: output lines, error lines, or neither."""
        outputs, errors = [], []
        lines = [json.loads(raw) for raw in self.files[batch["input_file_id"]].splitlines()]
        limit = len(lines) if self.done_lines is None else self.done_lines
        for index, line in enumerate(lines[:limit]):
            prompt = json.dumps(line["body"]["messages"])
            status = next((s for m, s in self.line_status.items() if m in prompt), 200)
            text = self.responder(line["body"])
            body: Any = {
                "id": f"chatcmpl-{index}",
                "object": "chat.completion",
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5},
            }
            if any(marker in prompt for marker in self.garbage_for):
                body = {"object": "chat.completion", "choices": []}
            if status != 200:
                body = {"error": {"message": "the model refused this request", "code": "bad_request"}}
            out = {"id": f"req-{index}", "custom_id": line["custom_id"], "error": None}
            out["response"] = {"status_code": status, "request_id": f"r{index}", "body": body}
            (outputs if status == 200 else errors).append(json.dumps(out))
        if outputs:
            batch["output_file_id"] = self._file("\n".join(outputs) + "\n", "batch_output")["id"]
        if errors:
            batch["error_file_id"] = self._file("\n".join(errors) + "\n", "batch_output")["id"]
        if self.final_status == "failed":
            batch["errors"] = {"object": "list", "data": [{"code": "invalid", "message": "bad input file"}]}
        batch["status"] = self.final_status

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, payload: dict[str, Any] | str, status: int = 200) -> None:
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server._lock:
                    if self.path == "/v1/files":
                        server.calls["upload"] += 1
                        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
                        form = BytesParser(policy=HTTP).parsebytes(head + raw)
                        parts = {
                            p.get_param("name", header="content-disposition"): p for p in form.iter_parts()
                        }
                        content = parts["file"].get_payload(decode=True).decode()
                        purpose = parts["purpose"].get_payload(decode=True).decode()
                        return self._send(server._file(content, purpose))
                    if self.path == "/v1/batches":
                        server.calls["create"] += 1
                        body = json.loads(raw)
                        batch = {
                            "id": f"batch-{len(server.batches)}",
                            "object": "batch",
                            "status": "in_progress",
                        }
                        batch |= {k: body[k] for k in ("input_file_id", "endpoint", "completion_window")}
                        batch["created_at"] = 0
                        server.batches[batch["id"]] = batch
                        return self._send(batch)
                return self._send({"error": {"message": "no such route"}}, 404)

            def do_GET(self) -> None:
                with server._lock:
                    if self.path.startswith("/v1/batches/"):
                        server.calls["retrieve"] += 1
                        batch = server.batches.get(self.path.rsplit("/", 1)[1])
                        if batch is None:
                            return self._send({"error": {"message": "no such batch"}}, 404)
                        server._polls[batch["id"]] += 1
                        if (
                            batch["status"] == "in_progress"
                            and server._polls[batch["id"]] > server.polls_before_done
                        ):
                            server._run(batch)
                        return self._send(batch)
                    if self.path.startswith("/v1/files/") and self.path.endswith("/content"):
                        server.calls["content"] += 1
                        return self._send(server.files[self.path.split("/")[3]])
                return self._send({"error": {"message": "no such route"}}, 404)

        return Handler
