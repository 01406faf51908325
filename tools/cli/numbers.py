"""What an operator types: card numbers (never echoed), card ids, reasons, amounts, dates.

A card number may be typed, pasted with spaces or dashes, or read from standard input with ``-``
so it stays out of shell history (on a terminal it is asked for without echo). It is checked
here (12 to 19 digits, Luhn) so a typo never leaves the machine, and only ever travels in a
request body. No message here quotes what was typed.
"""

from __future__ import annotations

import getpass
import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TextIO

from giftcard.cards import luhn_valid, normalize_number
from giftcard.items import lookup_of_card_id
from tools.cli.failures import CliError

#: The operator API refuses a reason with a run of this many digits (a card number, probably).
REASON_DIGITS = re.compile(r"\d{12,}")
REASON_LENGTH = (3, 200)
CURRENCY = re.compile(r"^[A-Z]{3}$")


class CardReference:
    """A card as the operator named it: ``{"number": ...}`` or ``{"card_id": ...}`` for the
    request body. The repr hides the number (tracebacks, debuggers, test reports)."""

    __slots__ = ("_body",)

    def __init__(self, body: dict[str, str]) -> None:
        self._body = body

    @property
    def body(self) -> dict[str, str]:
        return dict(self._body)

    def __repr__(self) -> str:
        if "card_id" in self._body:
            return f"CardReference(card_id={self._body['card_id']!r})"
        return "CardReference(number=<hidden>)"


def read_hidden(stdin: TextIO, prompt: str) -> str:
    """One line from standard input; asked for without echo on a terminal."""
    if stdin.isatty():
        return getpass.getpass(prompt)
    return stdin.readline()


def card_reference(raw: str | None, stdin: TextIO, card_id: str | None = None) -> CardReference:
    """``NUMBER`` (digits, spaces, dashes), ``-`` (read it from standard input), a ``c_...``
    card id in its place, or ``--card-id``."""
    if card_id is not None:
        if raw is not None:
            raise CliError("give either a card number or --card-id, not both")
        return _card_id(card_id)
    if raw is None:
        raise CliError("give a card number ('-' reads it from standard input) or --card-id")
    if raw == "-":
        raw = read_hidden(stdin, "Card number: ")
        if not raw.strip():
            raise CliError("no card number on standard input")
    text = raw.strip()
    if text.startswith("c_"):
        return _card_id(text)
    number = normalize_number(text)
    if number is None:
        raise CliError(
            "a card number is 12 to 19 digits (spaces and dashes allowed); a card id starts with c_"
        )
    if not luhn_valid(number):
        raise CliError("that card number fails its check digit: a typo?")
    return CardReference({"number": number})


def _card_id(value: str) -> CardReference:
    value = value.strip()
    if lookup_of_card_id(value) is None:
        raise CliError("a card id is c_ followed by letters, digits, - or _")
    return CardReference({"card_id": value})


def customer_id(raw: str, stdin: TextIO) -> str:
    """A customer id as typed, or ``-`` to read it from standard input."""
    value = read_hidden(stdin, "Customer id: ") if raw == "-" else raw
    value = value.strip()
    if not value:
        raise CliError("the customer id is empty")
    return value


def reason(raw: str) -> str:
    """The operator's reason, checked as the API checks it (3 to 200 characters, no run of 12
    or more digits) so a card number never leaves the machine in it."""
    value = raw.strip()
    low, high = REASON_LENGTH
    if not low <= len(value) <= high:
        raise CliError(f"--reason must be {low} to {high} characters")
    if REASON_DIGITS.search(value):
        raise CliError("--reason may not contain 12 or more digits in a row (no card numbers)")
    return value


def amount(raw: str) -> Decimal:
    """A signed amount in major units (``-12.50``, ``25``), never zero."""
    try:
        value = Decimal(raw.strip().replace(",", ""))
    except InvalidOperation:
        raise CliError("AMOUNT must be a number such as 25, -12.50") from None
    if not value.is_finite():
        raise CliError("AMOUNT must be a number such as 25, -12.50")
    if value == 0:
        raise CliError("AMOUNT may be negative or positive, never 0")
    return value


def currency(raw: str) -> str:
    value = raw.strip().upper()
    if not CURRENCY.match(value):
        raise CliError("CURRENCY is a three-letter ISO 4217 code such as USD")
    return value


def report_date(raw: str) -> str:
    try:
        return date.fromisoformat(raw.strip()).isoformat()
    except ValueError:
        raise CliError("--date is YYYY-MM-DD") from None


def expiry(raw: str) -> str | None:
    """``none`` (no expiry), a date (the card works through that whole day, UTC) or an ISO 8601
    time in UTC; answered as the API's ``expires_at``."""
    text = raw.strip()
    if text.lower() == "none":
        return None
    try:
        return date.fromisoformat(text).isoformat() + "T23:59:59Z"
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError("the expiry is 'none', a date YYYY-MM-DD or a UTC time") from None
    if moment.utcoffset() != timedelta(0):
        raise CliError("give the expiry time in UTC (ending in Z or +00:00)")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
