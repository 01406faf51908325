"""The model: an in-memory oracle of cards, instruments and amounts, independent of the service's
code, and ``Expect``, what a fresh request must get and change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from giftcard.cards import CardState
from giftcard.settings import Settings
from tests.reliability.ledger_model.harness import major, major_text

#: A small retry budget, so exhausting it costs three injected failures.
MAX_ATTEMPTS = 3
#: Reservations expire after an hour here, so waiting (the ``wait`` rule) reaches expiry.
RESERVATION_SECONDS = 3600
DIGITS = {"USD": 2, "EUR": 2, "JPY": 0, "BHD": 3}
#: The per-card maximum of each currency (default settings: 10,000 USD/EUR, 1,500,000 JPY,
#: 3,000 BHD), in minor units.
MAX_MINOR = {c: int(Settings().max_balance_for(c).scaleb(d)) for c, d in DIGITS.items()}
REQUEST_ERRORS = ("invalid_request", "amount_out_of_range")
PAYMENT_COMMANDS = ("instrument_capture", "instrument_refund", "instrument_revoke")
ISSUE_PREFIX = "7777"


def spelled(number: str, how: str) -> str:
    groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    if how == "spaces":
        return " ".join(groups)
    if how == "dashes":
        return "-".join(groups)
    if how == "padded":
        return f"  {number} "
    return number


def amount_body(kind: str, minor: int, currency: str) -> tuple[dict[str, Any], str | None]:
    """The request's ``amount`` and the request error it must get (None: valid)."""
    digits = DIGITS[currency]
    if kind == "too_big":
        return {"value": major(MAX_MINOR[currency] + minor, digits), "currency": currency}, (
            "amount_out_of_range"
        )
    if kind == "too_precise":
        return {"value": major(minor * 10 + 7, digits + 1), "currency": currency}, "invalid_request"
    if kind == "zero":
        return {"value": major(0, digits), "currency": currency}, "invalid_request"
    if kind == "string":
        return {"value": str(major(minor, digits)), "currency": currency}, "invalid_request"
    if kind == "unknown_currency":
        return {"value": major(minor, digits), "currency": "ZZZ"}, "invalid_request"
    minor = min(minor, MAX_MINOR[currency])
    return {"value": major(minor, digits), "currency": currency}, None


@dataclass
class ModelCard:
    number: str
    pin: str | None
    state: CardState
    currency: str | None = None
    balance: int = 0  # spendable
    held: int = 0  # reserved by open instruments
    failures: int = 0  # guesses counted in the current window
    locked_until: int = 0
    lockouts: int = 0  # in a row, without a right PIN in between
    hard_locked: bool = False
    deactivated_at: str | None = None
    #: An operator froze it (back office): refuses balance, activation and reservations.
    frozen: bool = False
    #: Set by an operator (the deployment's expiry policy is off here); UTC ISO to the second.
    expires_at: str | None = None
    #: Its customer: "indexed" (with an id, so the customer index finds it: issued cards have
    #: "c-1"), "sealed" (stored without an id: activations send an e-mail only), None (none, or
    #: erased).
    customer: str | None = None

    def expired(self, now_iso: str) -> bool:
        return self.expires_at is not None and self.expires_at <= now_iso


@dataclass
class ModelInstrument:
    instrument_id: str
    number: str
    currency: str
    authorized: int
    expires_at: int
    captured: int = 0
    refunded: int = 0
    released: int = 0

    @property
    def reserved(self) -> int:
        return self.authorized - self.captured - self.released

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded


def signed_text(minor: int, digits: int) -> str:
    return "-" + major_text(-minor, digits) if minor < 0 else major_text(minor, digits)


def other_currency(currency: str | None) -> str:
    return "EUR" if currency != "EUR" else "USD"


def payment_minor(choice: tuple[str, int, int], available: int) -> int:
    kind, share, absolute = choice
    if kind == "share":
        return max(1, available * share // 100)
    if kind == "all":
        return max(1, available)
    if kind == "over":
        return available + 1 + absolute % 1000
    return absolute


@dataclass
class Expect:
    """What a fresh (not replayed) request must get, and what it changes."""

    status: int
    code: str | None = None
    #: the response is stored (under the client's key, or the request id for a 200 without key)
    stored: bool = False
    #: the request reaches TransactWriteItems (so an exhausting fault turns it into a 503)
    transacts: bool = True
    #: applied when the request commits; gets the parsed 200 body
    commit: Callable[[Any], None] | None = None
    #: checks a 200 body (numbers as text)
    check: Callable[[Any], None] | None = None
    #: PIN counter changes: a guess is charged before the transaction and a wrong one stays
    #: counted even if the transaction then fails; a right one is reset whatever happens next
    pin_effect: list[Callable[[], None]] = field(default_factory=list)
