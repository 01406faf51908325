"""The console's HTTP server on 127.0.0.1 (``giftcard console`` starts it, tools/cli/console.py),
the browser opened on it.

Loopback only: the console signs with whoever started it, so nobody else may reach it."""

from __future__ import annotations

import threading
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tools.console.app import ConsoleApp

HOST = "127.0.0.1"
#: A body the console's pages never come near (a reason is 200 characters).
MAX_BODY_BYTES = 64 * 1024


def _print(line: str) -> None:
    print(line, flush=True)


class ConsoleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, app: ConsoleApp) -> None:
        self.app = app
        super().__init__((HOST, port), _Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}{self.app.mount}/"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "giftcard-console"
    server: ConsoleServer

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        app = self.server.app
        if self.path in ("/", ""):
            self._send(302, {"Location": app.mount + "/"}, b"")
            return
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self._send(413, {"Content-Type": "text/plain"}, b"Too large.")
            self.close_connection = True
            return
        body = self.rfile.read(int(length)) if int(length) else b""
        status, headers, answer = app.handle(self.command, self.path, self.headers.items(), body)
        self._send(status, headers, answer)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the operator's own terminal: nothing to keep, nothing to leak


def serve(
    app: ConsoleApp,
    port: int = 0,
    open_browser: bool = True,
    ready: threading.Event | None = None,
    announce: Callable[[str], None] = _print,
) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` (0: a free port) until Ctrl-C, opening the browser.
    ``OSError`` when the port cannot be listened on."""
    server = ConsoleServer(port, app)
    announce(f"Gift card console on {server.url} (Ctrl-C stops)")
    if open_browser:
        webbrowser.open(server.url)
    if ready is not None:
        ready.set()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
