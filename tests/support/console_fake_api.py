"""A small stand-in operator API for the console's tests: the paths, bodies and answer shapes of
back-office.md ("Operator API"), SigV4 checked with the local run's verifier, the support policy
refused the finance routes (403 forbidden) as IAM would. State is one dict of cards in memory.

    with FakeOperatorApi() as api:
        number, card_id = api.add_card(balance=7000, currency="USD")
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from giftcard.audit import DORMANCY_BUCKETS
from tools.console.operations import BY_ROUTE, FINANCE
from tools.local_api.sigv4 import OperatorCredential, SignatureRejected, SigV4Verifier

FINANCE_KEY = OperatorCredential(
    "AKIAFAKEFINANCE00001",
    "fake-finance-secret-0123456789abcdefghij",
    "arn:aws:iam::000000000000:user/fake-finance",
)
SUPPORT_KEY = OperatorCredential(
    "AKIAFAKESUPPORT00001",
    "fake-support-secret-0123456789abcdefghij",
    "arn:aws:iam::000000000000:user/fake-support",
)
REGION = "us-east-1"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(minor: int | None, currency: str) -> dict[str, Any] | None:
    return None if minor is None else {"value": minor / 100, "currency": currency}


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class FakeCard:
    number: str
    card_id: str
    currency: str
    balance: int
    held: int = 0
    state: str = "active"
    frozen: dict[str, Any] | None = None
    failures: int = 0
    hard_locked: bool = False
    expires_at: str | None = None
    customer: dict[str, str] | None = None
    #: Whole years since the card's last activity, for the dormancy report.
    idle_years: int = 0
    entries: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "card_id": self.card_id,
            "last4": self.number[-4:],
            "state": self.state,
            "currency": self.currency,
            "balance": _money(self.balance, self.currency),
            "held": _money(self.held, self.currency),
            "frozen": self.frozen,
            "pin": {
                "has_pin": True,
                "failures": self.failures,
                "locked_until": None,
                "hard_locked": self.hard_locked,
            },
            "created_at": "2026-11-01T09:00:00Z",
            "activated_at": "2026-11-01T09:00:00Z",
            "deactivated_at": None,
            "expires_at": self.expires_at,
            "last_activity_at": self.entries[-1]["created_at"] if self.entries else None,
            "open_reservations": 1 if self.held else 0,
            "customer": self.customer,
        }

    def record(self, kind: str, amount: int | None, actor: str, reason: str | None) -> dict:
        entry = {
            "entry_id": f"e-{len(self.entries) + 1}",
            "kind": kind,
            "amount": _money(amount, self.currency),
            "balance_after": _money(self.balance, self.currency),
            "held_after": _money(self.held, self.currency),
            "created_at": _now(),
            "store_id": None if reason else "store-berlin-1",
            "actor": actor,
            "reason": reason,
            "instrument_id": None,
            "request_id": f"r-{len(self.entries) + 1}",
        }
        self.entries.append(entry)
        return entry


class FakeOperatorApi:
    def __init__(self) -> None:
        self.verifier = SigV4Verifier([FINANCE_KEY, SUPPORT_KEY], region=REGION)
        self.cards: dict[str, FakeCard] = {}
        self.audits: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, bytes]] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.url = ""

    def add_card(self, number: str, balance: int, currency: str = "USD", **extra: Any) -> str:
        card_id = f"c_fake{len(self.cards) + 1:04d}"
        card = FakeCard(number, card_id, currency, balance, **extra)
        card.record("issue", balance, "key-1", None)
        self.cards[card_id] = card
        return card_id

    # HTTP ----------------------------------------------------------------------------------------

    def __enter__(self) -> FakeOperatorApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, answer = api.answer(
                    self.command, self.path, list(self.headers.items()), body
                )
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def answer(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        split = urlsplit(target)
        operation = BY_ROUTE.get((method, split.path))
        if operation is None:
            return 404, {"error_code": "not_found", "message": "No such endpoint."}
        try:
            caller = self.verifier.caller(method, target, headers, body)
        except SignatureRejected as exc:
            return 403, {"error_code": "forbidden", "message": exc.message}
        self.requests.append((method, target, body))
        if operation.policy == FINANCE and caller == SUPPORT_KEY.arn:
            return 403, {"error_code": "forbidden", "message": "Forbidden."}
        payload = json.loads(body) if body else {}
        query = dict(parse_qsl(split.query))
        name = split.path.removeprefix("/admin/").replace("/", "_")
        try:
            with self.lock:
                return 200, getattr(self, f"op_{name}")(payload, query, caller)
        except Refused as refused:
            return refused.status, {"error_code": refused.code, "message": refused.message}

    # operations ----------------------------------------------------------------------------------

    def _card(self, payload: dict[str, Any]) -> FakeCard:
        for card in self.cards.values():
            if payload.get("card_id") == card.card_id or payload.get("number") == card.number:
                return card
        raise Refused(404, "card_not_found", "No card has that number or id.")

    @staticmethod
    def _reason(payload: dict[str, Any]) -> str:
        reason = str(payload.get("reason") or "")
        if not 3 <= len(reason) <= 200 or re.search(r"\d(?:[ -]?\d){11,}", reason):
            raise Refused(400, "invalid_request", "reason: 3 to 200 characters, no card number.")
        return reason

    def op_cards_lookup(self, payload: dict, query: dict, caller: str) -> dict:
        return {"card": self._card(payload).view()}

    def op_cards_history(self, payload: dict, query: dict, caller: str) -> dict:
        card = self._card(payload)
        start = int(payload.get("cursor") or 0)
        limit = int(payload.get("limit") or 50)
        newest_first = list(reversed(card.entries))
        page = newest_first[start : start + limit]
        more = start + limit < len(newest_first)
        return {"entries": page, "next_cursor": str(start + limit) if more else None}

    def op_cards_freeze(self, payload: dict, query: dict, caller: str) -> dict:
        card, reason = self._card(payload), self._reason(payload)
        if not card.frozen:
            card.frozen = {"reason": reason, "by": caller, "at": _now()}
            card.record("freeze", None, caller, reason)
        return {"card": card.view()}

    def op_cards_unfreeze(self, payload: dict, query: dict, caller: str) -> dict:
        card, reason = self._card(payload), self._reason(payload)
        if card.frozen:
            card.frozen = None
            card.record("unfreeze", None, caller, reason)
        return {"card": card.view()}

    def op_cards_unlock_pin(self, payload: dict, query: dict, caller: str) -> dict:
        card, reason = self._card(payload), self._reason(payload)
        card.failures, card.hard_locked = 0, False
        card.record("unlock_pin", None, caller, reason)
        return {"card": card.view()}

    def op_cards_adjust(self, payload: dict, query: dict, caller: str) -> dict:
        card, reason = self._card(payload), self._reason(payload)
        minor = round(float(payload["amount"]["value"]) * 100)
        if card.balance + minor < 0:
            raise Refused(400, "insufficient_funds", "Insufficient funds.")
        card.balance += minor
        entry = card.record("adjust", minor, caller, reason)
        return {"card": card.view(), "entry": entry}

    def op_cards_expiry(self, payload: dict, query: dict, caller: str) -> dict:
        card, reason = self._card(payload), self._reason(payload)
        card.expires_at = payload.get("expires_at")
        card.record("expiry_set", None, caller, reason)
        return {"card": card.view()}

    def op_customers_cards(self, payload: dict, query: dict, caller: str) -> dict:
        found = [
            c.view()
            for c in self.cards.values()
            if c.customer and c.customer["id"] == payload.get("customer_id")
        ]
        return {"cards": found}

    def op_customers_erase(self, payload: dict, query: dict, caller: str) -> dict:
        reason = self._reason(payload)
        erased = 0
        for card in self.cards.values():
            if card.customer and card.customer["id"] == payload.get("customer_id"):
                card.customer = None
                card.record("customer_erased", None, caller, reason)
                erased += 1
        return {"erased_cards": erased}

    def _liability(self, audit_id: str, as_of: str) -> dict:
        currencies: dict[str, dict[str, Any]] = {}
        for card in self.cards.values():
            row = currencies.setdefault(card.currency, {"cards": 0, "spendable": 0, "held": 0})
            row["cards"] += 1
            row["spendable"] += card.balance
            row["held"] += card.held
        return {
            "as_of": as_of,
            "audit_id": audit_id,
            "currencies": [
                {
                    "currency": currency,
                    "cards": row["cards"],
                    "spendable": _money(row["spendable"], currency),
                    "held": _money(row["held"], currency),
                    "outstanding": _money(row["spendable"] + row["held"], currency),
                }
                for currency, row in sorted(currencies.items())
            ],
        }

    def op_audit_run(self, payload: dict, query: dict, caller: str, as_of: str = "") -> dict:
        as_of = as_of or _now()
        audit_id = f"a-{len(self.audits) + 1}"
        liability = self._liability(audit_id, as_of)
        dormancy = {
            "as_of": as_of,
            "audit_id": audit_id,
            "currencies": [
                {"currency": currency, "buckets": self._buckets(currency)}
                for currency in sorted({card.currency for card in self.cards.values()})
            ],
        }
        self.audits.append(
            {
                "audit_id": audit_id,
                "as_of": as_of,
                "finished_at": _now(),
                "cards_checked": len(self.cards),
                "entries_checked": sum(len(c.entries) for c in self.cards.values()),
                "mismatches": [],
                "liability": liability,
                "dormancy": dormancy,
                "expiring": {"30d": 0, "90d": 0},
            }
        )
        return {"audit_id": audit_id, "status": "finished"}

    def _buckets(self, currency: str) -> list[dict[str, Any]]:
        """The audit's five buckets (<1y, 1-2y, 2-3y, 3-5y, >=5y) from the cards' idle years."""
        totals = {bucket: [0, 0] for bucket in DORMANCY_BUCKETS}
        for card in self.cards.values():
            if card.currency == currency:
                years = card.idle_years
                bucket = DORMANCY_BUCKETS[min(years, 3) if years < 5 else 4]
                totals[bucket][0] += 1
                totals[bucket][1] += card.balance + card.held
        return [
            {"bucket": bucket, "cards": cards, "outstanding": _money(minor, currency)}
            for bucket, (cards, minor) in totals.items()
        ]

    def audit_on(self, as_of: str) -> None:
        """A finished audit as of ``as_of`` (an earlier night), with today's figures."""
        self.op_audit_run({}, {}, "scheduler", as_of=as_of)

    def _audit(self, query: dict) -> dict:
        chosen = [a for a in self.audits if a["as_of"][:10] == query.get("date", a["as_of"][:10])]
        if not chosen:
            raise Refused(404, "audit_not_found", "No audit has finished.")
        return chosen[-1]

    def op_audit_latest(self, payload: dict, query: dict, caller: str) -> dict:
        return self._audit({})

    def op_reports_liability(self, payload: dict, query: dict, caller: str) -> dict:
        return dict(self._audit(query)["liability"])

    def op_reports_dormancy(self, payload: dict, query: dict, caller: str) -> dict:
        return dict(self._audit(query)["dormancy"])

    def op_events_recent(self, payload: dict, query: dict, caller: str) -> dict:
        events = []
        for card in self.cards.values():
            for entry in card.entries:
                events.append(
                    {
                        "source": "giftcard",
                        "detail-type": f"Gift Card {entry['kind'].title()}",
                        "time": entry["created_at"],
                        "detail": {
                            "event_id": entry["entry_id"],
                            "card_id": card.card_id,
                            "last4": card.number[-4:],
                            "kind": entry["kind"],
                            "amount": entry["amount"],
                            "balance_after": entry["balance_after"],
                            "actor": entry["actor"],
                            "reason": entry["reason"],
                            "occurred_at": entry["created_at"],
                        },
                    }
                )
        return {"events": events[-100:]}
