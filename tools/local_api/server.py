"""The HTTP server in front of the gateway: HTTP/1.1 with keep-alive, one thread per connection.

It enforces the body size limit before reading the body (the WAF rule in front of the deployed
API: 413 before routing and before the key), sends every method to the gateway (404/405 like API
Gateway), answers malformed requests with the contract's error body, and writes one JSON access
line per request (no body, no header value: the key never reaches the logs).
"""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from giftcard import errors
from tools.local_api.gateway import Answer, Gateway, error_answer, log_line

#: A body over the limit is read and thrown away (so the client can read the 413) up to this.
DISCARD_LIMIT = 16 * 1024 * 1024


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    #: Listen backlog: a burst of connections queues instead of being reset.
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        super().__init__(address, RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up or stalls mid-request is its own business, not a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class BodyTooLarge(Exception):
    pass


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "giftcard-local-gateway"
    #: Idle keep-alive connections are closed after this many seconds.
    timeout = 60
    server: LocalServer

    def __getattr__(self, name: str) -> Any:
        # Every method, known or not, goes through the gateway (404/405 like API Gateway).
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self) -> None:
        started = time.monotonic()
        gateway = self.server.gateway
        limit = gateway.settings.max_body_bytes
        try:
            body = self._read_body(limit)
        except BodyTooLarge:
            # The WAF rule in front of the deployed API: before routing and before the key.
            self._send(error_answer(errors.PayloadTooLarge()), close=True)
            self._discard_rest()
            self._access_log(413, started)
            return
        except ValueError:
            self._send(error_answer(errors.InvalidRequest()), close=True)
            self._access_log(400, started)
            return
        answer = gateway.answer(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        self._send(answer)
        self._access_log(answer.status, started, answer.key_id)

    def _read_body(self, limit: int) -> bytes | None:
        self._unread: int | None = 0
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return None
        if not raw_length.strip().isdigit():
            raise ValueError("bad Content-Length")
        length = int(raw_length)
        if length > limit:
            self._unread = length
            raise BodyTooLarge()
        return self.rfile.read(length) if length else b""

    def _read_chunked(self, limit: int) -> bytes:
        data = bytearray()
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise ValueError("bad chunk size") from exc
            if size == 0:
                while self.rfile.readline(8192).strip():  # trailers
                    pass
                return bytes(data)
            if len(data) + size > limit:
                self._unread = None  # unknown: close the connection after answering
                raise BodyTooLarge()
            data += self.rfile.read(size)
            self.rfile.readline(8)  # CRLF after the chunk

    def _discard_rest(self) -> None:
        """Read (and drop) a too-large body so the client, still sending, can read the 413."""
        remaining = self._unread if self._unread is not None else DISCARD_LIMIT
        remaining = min(remaining, DISCARD_LIMIT)
        try:
            self.connection.settimeout(2)
            while remaining > 0:
                chunk = self.rfile.read(min(65536, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass

    def _send(self, answer: Answer, close: bool = False) -> None:
        self.send_response(answer.status)
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)
        self.wfile.flush()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed requests (bad request line, header too long...): the contract's body too.
        error = errors.InvalidRequest()
        error.status = code if 400 <= code < 500 else 400
        self._send(error_answer(error), close=True)

    def _access_log(self, status: int, started: float, key_id: str = "") -> None:
        # Like the stage's access log: no body, no header value (the key never reaches logs).
        log_line(
            "INFO",
            "access",
            httpMethod=self.command,
            path=urlsplit(self.path).path,
            status=status,
            responseLatency=round((time.monotonic() - started) * 1000, 1),
            keyId=key_id or None,
        )

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the JSON access log above replaces http.server's stderr lines
