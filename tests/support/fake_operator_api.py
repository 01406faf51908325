"""A stand-in operator API on 127.0.0.1 for the ``giftcard`` command's tests.

It checks every request's SigV4 signature with the local run's verifier
(``tools/local_api/sigv4.py``), answers ``403 forbidden`` like the gateway when it does not
verify, and otherwise answers canned bodies shaped as ``back-office.md`` says. It records each
request (method, target, parsed body, caller) so tests can check what the command sent.

    with FakeOperatorApi() as api:
        api.answers["/admin/cards/lookup"] = (404, {"error_code": "card_not_found", ...})
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from giftcard import errors
from tools.local_api.sigv4 import OperatorCredential, SignatureRejected, SigV4Verifier

KEY_ID = "AKIAFAKEOPERATOR0001"
SECRET = "fake-operator-secret-0123456789abcdefghi"
ARN = "arn:aws:iam::000000000000:user/local-operator"
CARD_ID = "c_" + "a1" * 32

CARD: dict[str, Any] = {
    "card_id": CARD_ID,
    "last4": "7890",
    "state": "active",
    "currency": "USD",
    "balance": {"value": 70, "currency": "USD"},
    "held": {"value": 30.5, "currency": "USD"},
    "frozen": {"reason": "reported stolen", "by": ARN, "at": "2026-11-26T10:00:00Z"},
    "pin": {"has_pin": True, "failures": 2, "locked_until": None, "hard_locked": True},
    "created_at": "2026-01-02T03:04:05Z",
    "activated_at": "2026-01-03T03:04:05Z",
    "deactivated_at": None,
    "expires_at": None,
    "last_activity_at": "2026-11-20T09:00:00Z",
    "open_reservations": 1,
    "customer": {"id": "64810476", "name": "Jay Doubleyou", "email": "jay@example.com"},
}
ENTRY: dict[str, Any] = {
    "entry_id": "e-1",
    "kind": "adjust",
    "amount": {"value": -12.5, "currency": "USD"},
    "balance_after": {"value": 57.5, "currency": "USD"},
    "held_after": {"value": 30.5, "currency": "USD"},
    "created_at": "2026-11-26T11:00:00Z",
    "store_id": None,
    "actor": ARN,
    "reason": "mistaken load [bold]corrected[/bold]",
    "instrument_id": None,
    "request_id": "r-1",
}
HOLD: dict[str, Any] = {
    **ENTRY,
    "entry_id": "e-0",
    "kind": "hold",
    "amount": {"value": 30.5, "currency": "USD"},
    "actor": "key-1",
    "reason": None,
    "store_id": "store-9",
}
LIABILITY: dict[str, Any] = {
    "as_of": "2026-11-30T00:00:00Z",
    "audit_id": "a-42",
    "currencies": [
        {
            "currency": "USD",
            "cards": 3,
            "spendable": {"value": 1234.5, "currency": "USD"},
            "held": {"value": 10, "currency": "USD"},
            "outstanding": {"value": 1244.5, "currency": "USD"},
        },
        {
            "currency": "JPY",
            "cards": 1,
            "spendable": {"value": 5000, "currency": "JPY"},
            "held": {"value": 0, "currency": "JPY"},
            "outstanding": {"value": 5000, "currency": "JPY"},
        },
    ],
}
DORMANCY: dict[str, Any] = {
    "as_of": "2026-11-30T00:00:00Z",
    "audit_id": "a-42",
    "currencies": [
        {
            "currency": "USD",
            "buckets": [
                {"bucket": "<1y", "cards": 2, "outstanding": {"value": 1000, "currency": "USD"}},
                {"bucket": "3-5y", "cards": 1, "outstanding": {"value": 244.5, "currency": "USD"}},
            ],
        }
    ],
}
AUDIT: dict[str, Any] = {
    "audit_id": "a-42",
    "as_of": "2026-11-30T00:00:00Z",
    "finished_at": "2026-11-30T00:01:00Z",
    "cards_checked": 4,
    "entries_checked": 17,
    "mismatches": [{"card_id": CARD_ID, "problem": "balance differs from its entries"}],
    "liability": LIABILITY,
    "dormancy": DORMANCY,
    "expiring": {"30d": 1, "90d": 2},
}

#: (method, path) -> (status, body)
ANSWERS: dict[tuple[str, str], tuple[int, Any]] = {
    ("POST", "/admin/cards/lookup"): (200, {"card": CARD}),
    ("POST", "/admin/cards/history"): (200, {"entries": [ENTRY, HOLD], "next_cursor": "cur-2"}),
    ("POST", "/admin/cards/freeze"): (200, {"card": CARD}),
    ("POST", "/admin/cards/unfreeze"): (200, {"card": {**CARD, "frozen": None}}),
    ("POST", "/admin/cards/unlock_pin"): (200, {"card": CARD}),
    ("POST", "/admin/cards/adjust"): (200, {"card": CARD, "entry": ENTRY}),
    ("POST", "/admin/cards/expiry"): (
        200,
        {"card": {**CARD, "expires_at": "2027-12-31T23:59:59Z"}},
    ),
    ("POST", "/admin/customers/cards"): (200, {"cards": [CARD, {**CARD, "frozen": None}]}),
    ("POST", "/admin/customers/erase"): (200, {"erased_cards": 2}),
    ("GET", "/admin/reports/liability"): (200, LIABILITY),
    ("GET", "/admin/reports/dormancy"): (200, DORMANCY),
    ("POST", "/admin/audit/run"): (200, {"audit_id": "a-43", "status": "started"}),
    ("GET", "/admin/audit/latest"): (200, AUDIT),
}


@dataclass
class Received:
    method: str
    target: str
    path: str
    query: dict[str, str]
    body: Any  # numbers as Decimal
    raw: bytes
    caller: str | None
    status: int


class FakeOperatorApi:
    def __init__(self, region: str = "us-east-1") -> None:
        self.verifier = SigV4Verifier([OperatorCredential(KEY_ID, SECRET, ARN)], region=region)
        self.answers: dict[str, tuple[int, Any]] = {}
        self.received: list[Received] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeOperatorApi:
        self.thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    @property
    def last(self) -> Received:
        return self.received[-1]

    def answer(self, method: str, target: str, headers: Any, raw: bytes) -> tuple[int, Any, str]:
        split = urlsplit(target)
        try:
            caller: str | None = self.verifier.caller(method, target, headers, raw)
        except SignatureRejected as rejected:
            reply = errors.reply_for(rejected)
            return reply.status, json.loads(reply.body), ""
        status, body = self.answers.get(split.path) or ANSWERS.get(
            (method, split.path), (404, {"error_code": "not_found", "message": "No such endpoint."})
        )
        return status, body, caller or ""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body, caller = api.answer(
                    self.command, self.path, list(self.headers.items()), raw
                )
                split = urlsplit(self.path)
                api.received.append(
                    Received(
                        self.command,
                        self.path,
                        split.path,
                        dict(parse_qsl(split.query)),
                        json.loads(raw, parse_float=Decimal) if raw else None,
                        raw,
                        caller or None,
                        status,
                    )
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        return Handler
