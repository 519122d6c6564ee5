"""Test double of an OpenAI-compatible chat-completions server (streaming, with usage), on a free
loopback port: what the assistant's LLM path talks to in tests that do not build a real model."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

DEFAULT_REPLY = "Moby-Dick [moby-dick] is about a whale; see also [secret-book] and [iliad]."


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up on a slow reply is expected here."""


class FakeModelServer:
    """`behaviour`: "ok" streams `reply` word by word then the usage, "error" answers 500, "slow"
    waits 2 s before streaming. Every request body is kept in `requests`."""

    def __init__(self, *, reply: str = DEFAULT_REPLY, model: str = "test-model") -> None:
        self.reply = reply
        self.model = model
        self.behaviour = "ok"
        self.requests: list[dict[str, Any]] = []
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        """The base URL an OpenAI client takes (…/v1)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "FakeModelServer":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                double.requests.append(body)
                if double.behaviour == "error":
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "model crashed (test)"}}')
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                if double.behaviour == "slow":
                    time.sleep(2)
                for piece in double.reply.split(" "):
                    self._event(
                        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": piece + " "}}]}
                    )
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                usage = {"prompt_tokens": 120, "completion_tokens": 17, "total_tokens": 137}
                self._event({"choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")

            def _event(self, data: dict[str, Any]) -> None:
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": double.model,
                    **data,
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
