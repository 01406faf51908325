"""``giftcard console`` / ``python -m tools.console``: the console on 127.0.0.1, signing with the
operator's own credentials, the browser opened on it.

Loopback only: the console signs with whoever started it, so nobody else may reach it."""

from __future__ import annotations

import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session

from tools.console.app import ConsoleApp

HOST = "127.0.0.1"
#: A body the console's pages never come near (a reason is 200 characters).
MAX_BODY_BYTES = 64 * 1024


def credentials_from_chain(profile: str | None = None) -> Any:
    """The standard AWS credential chain (environment, profile, SSO, instance role), or None."""
    session = botocore.session.Session(profile=profile)
    return session.get_credentials()


def region_from_chain(profile: str | None = None) -> str | None:
    return botocore.session.Session(profile=profile).get_config_variable("region")


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
) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` (0: a free port) until Ctrl-C, opening the browser."""
    server = ConsoleServer(port, app)
    print(f"Gift card console on {server.url} (Ctrl-C stops)", flush=True)
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
