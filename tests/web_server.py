"""A loopback web server for tests of fetching, URL ingest and feeds.

It listens on 127.0.0.1 only (random port) and serves what a test registers: pages, feeds
(honouring If-None-Match / If-Modified-Since), redirects, a slow endpoint, bodies streamed
without a length, status lines and headers trickled a byte at a time, and so on. Every
request is recorded. Nothing here opens a connection.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0  # seconds before the response starts
    # Streamed in pieces without Content-Length: (piece, how many times, pause between).
    stream: tuple[bytes, int, float] | None = None
    # Seconds between the bytes of the status line and headers (0: sent at once).
    trickle: float = 0.0


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]


class QuietHTTPServer(ThreadingHTTPServer):
    """A client hanging up is normal here (a fetcher or client that stops reading early);
    anything else is logged rather than printed, so it never lands in a CLI's captured
    stderr that a test compares."""

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            return
        log.error("web server: request from %s failed", client_address, exc_info=error)


class WebServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._httpd = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes | str = b"", **options: object) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(body=data, **options)  # type: ignore[arg-type]
        return self.url(path)

    def redirect(self, path: str, to: str, status: int = 302) -> str:
        return self.add(path, status=status, content_type=None, headers={"Location": to})

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests.append(Request(handler.path, dict(handler.headers.items())))
        route = self.routes.get(handler.path)
        if route is None:
            self._send(handler, 404, b"not found", {"Content-Type": "text/plain"})
            return
        if route.delay and self._stop.wait(route.delay):
            return
        headers = dict(route.headers)
        if route.content_type:
            headers["Content-Type"] = route.content_type
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if (route.etag and handler.headers.get("If-None-Match") == route.etag) or (
            route.last_modified
            and not route.etag
            and handler.headers.get("If-Modified-Since") == route.last_modified
        ):
            self._send(handler, 304, b"", {k: v for k, v in headers.items() if k != "Content-Type"})
            return
        if route.stream is not None:
            self._stream(handler, route, headers)
            return
        if route.trickle:
            self._trickle(handler, route, headers)
            return
        self._send(handler, route.status, route.body, headers)

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if body:
            handler.wfile.write(body)

    def _stream(
        self, handler: BaseHTTPRequestHandler, route: Route, headers: dict[str, str]
    ) -> None:
        assert route.stream is not None
        piece, times, pause = route.stream
        handler.send_response(route.status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Connection", "close")  # no length: the body ends with the connection
        handler.end_headers()
        try:
            for _ in range(times):
                handler.wfile.write(piece)
                handler.wfile.flush()
                if pause and self._stop.wait(pause):
                    break
        except OSError:
            pass  # the client stopped reading (as it should, at its limit)
        handler.close_connection = True

    def _trickle(
        self, handler: BaseHTTPRequestHandler, route: Route, headers: dict[str, str]
    ) -> None:
        lines = [f"HTTP/1.1 {route.status} {HTTPStatus(route.status).phrase}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += [f"Content-Length: {len(route.body)}", "Connection: close"]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            for index in range(len(head)):
                handler.wfile.write(head[index : index + 1])
                handler.wfile.flush()
                if self._stop.wait(route.trickle):
                    return
            handler.wfile.write(route.body)
        except OSError:
            pass  # the client gave up waiting (as it should, at its deadline)
        handler.close_connection = True


def serving() -> Iterator[WebServer]:
    server = WebServer().start()
    try:
        yield server
    finally:
        server.stop()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
