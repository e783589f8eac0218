"""A loopback OpenAI-compatible model server for tests of written answers.

It listens on 127.0.0.1 only (random port) and answers `POST /v1/chat/completions` with
what a test scripts: a reply text (as a completion, or as an SSE stream of chunks when the
request asks `stream: true`, as Ollama and vLLM do), or a failure: a slow start, a status
(500, 429), malformed JSON, or a body that never ends. Every request body is recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.web_server import QuietHTTPServer

COMPLETIONS = "/v1/chat/completions"


@dataclass(frozen=True)
class Reply:
    text: str = ""
    status: int = 200
    delay: float = 0.0  # seconds before the response starts
    malformed: bool = False
    endless: bool = False  # a 200 SSE stream that trickles on and never ends


class LlmServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        # The reply to each request: a fixed one, or one made from the request's body.
        self.reply: Reply | Callable[[dict[str, Any]], Reply] = Reply("")
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._httpd = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlmServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        self.requests.append(body)
        self.headers.append(dict(handler.headers.items()))
        if handler.path != COMPLETIONS:
            self._send(handler, 404, b"not found", "text/plain")
            return
        reply = self.reply(body) if callable(self.reply) else self.reply
        if reply.delay and self._stop.wait(reply.delay):
            return
        if reply.status != 200:
            error = {"error": {"message": "scripted failure", "code": reply.status}}
            self._send(handler, reply.status, json.dumps(error).encode(), "application/json")
        elif reply.endless:
            self._endless(handler)
        elif reply.malformed:
            self._send(
                handler, 200, b'{"choices": [{"message": {"content": "cut', "application/json"
            )
        elif body.get("stream"):
            self._sse(handler, reply.text)
        else:
            completion = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.text},
                        "finish_reason": "stop",
                    }
                ],
            }
            self._send(handler, 200, json.dumps(completion).encode(), "application/json")

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _chunked(self, handler: BaseHTTPRequestHandler, pieces: Iterator[bytes]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            for piece in pieces:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            return  # the client gave up

    def _sse(self, handler: BaseHTTPRequestHandler, text: str) -> None:
        def events() -> Iterator[bytes]:
            for word in text.split(" "):
                delta = {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
                yield b"data: " + json.dumps(delta).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"

        self._chunked(handler, events())

    def _endless(self, handler: BaseHTTPRequestHandler) -> None:
        """An SSE stream of one word every 50 ms that never sends its [DONE]."""

        def forever() -> Iterator[bytes]:
            delta = {"choices": [{"index": 0, "delta": {"content": "and "}}]}
            while not self._stop.wait(0.05):
                yield b"data: " + json.dumps(delta).encode() + b"\n\n"

        self._chunked(handler, forever())


def serving() -> Iterator[LlmServer]:
    server = LlmServer().start()
    try:
        yield server
    finally:
        server.stop()
