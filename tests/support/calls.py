"""Helpers for tests that drive the webhooks the way API Gateway does.

- ``invoke(name, body)``: run ``functions.<name>.handler.lambda_handler`` with a REST proxy event
  and get an ``Answer`` (status, exact body text, parsed JSON with ``Decimal`` numbers).
- ``CallCounter``/``DynamoCalls``: count the DynamoDB round trips a request makes (botocore
  ``before-call`` hook; the benchmark counts with the same class).
- ``lose_response_once``: make a DynamoDB call fail with a read timeout *after* it reached the
  table (the lost-response case: the write committed, the caller never heard).
- ``Secrets`` + ``find_secrets``/``assert_no_secrets``: remember the card numbers, PINs, keys and
  e-mails a test used and look for them in logs, error bodies or table items. Failures name the
  *kind* of secret found ("card number #2"), never its value, so test output stays clean.
- ``CapturedLogs``: the service's Powertools log lines, formatted exactly as in production.
- ``assert_ledger_consistent``: for every card, balance + held equals the sum of its ledger.
- ``card_number``, ``load_stock``, ``issue_card``: cards to test with (printed stock through the
  real import, issued cards through the real webhook).

Every request the helpers send goes through the real handler, so the per-test ``SECRETS`` registry
knows each number and PIN in play; ``tests/conftest.py`` scans the logs and error bodies of every
integration test for them. All of this needs moto to be active (``tests.support.aws.offline_aws``,
or the ``aws`` fixture) except the secret scanner, which is pure.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from giftcard.http import route_handler
from giftcard.routes import ROUTES, ROUTES_BY_FUNCTION
from tests.support.aws import API_KEY, API_KEY_ID
from tests.support.events import LambdaContext, proxy_event

# Invoking handlers -------------------------------------------------------------------------------

PATHS = {route.function: route.path for route in ROUTES}


def handler(name: str) -> Callable[..., dict[str, Any]]:
    """The ``lambda_handler`` the stack runs for ``name``: a route's (``functions/route``, built
    from its entry in the route registry) or ``functions/<name>/handler.py``'s."""
    route = ROUTES_BY_FUNCTION.get(name)
    if route is not None:
        return route_handler(route)
    module = importlib.import_module(f"functions.{name}.handler")
    return module.lambda_handler  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Answer:
    """What the Lambda returned to API Gateway."""

    status: int
    body: str
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        """The body parsed with exact numbers (``Decimal``), as a client should."""
        return json.loads(self.body, parse_float=Decimal, parse_int=Decimal)

    @property
    def error_code(self) -> str | None:
        data = self.json
        return data.get("error_code") if isinstance(data, dict) else None


def invoke(
    name: str,
    body: Any = None,
    *,
    raw: str | None = None,
    services: Any = None,
    key_id: str = API_KEY_ID,
    secrets: Secrets | None = None,
    path_parameters: dict[str, str] | None = None,
) -> Answer:
    """Call one webhook's ``lambda_handler`` with a proxy event for ``body`` (or the ``raw`` text).

    ``services`` is passed as the handler's third argument (``giftcard.http.Services``: a fixed
    clock, a counted repository...); ``key_id`` is what the authorizer put in the request context;
    ``path_parameters`` fill ``{name}`` in the route's path (redemption routes).

    Card numbers, PINs and e-mails in the request, and the number and PIN of an issued card, are
    remembered in ``secrets`` (default: the per-test ``SECRETS`` registry), so later scans of logs
    and tables know what must not appear. Non-2xx bodies are kept for the same scan.
    """
    registry = SECRETS if secrets is None else secrets
    if body is not None:
        registry.harvest(body)
    text = raw if raw is not None else to_json(body)
    path = PATHS.get(name, f"/{name}")
    for parameter, value in (path_parameters or {}).items():
        path = path.replace("{" + parameter + "}", value)
    event = proxy_event(path, body, raw=text, key_id=key_id)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    result = handler(name)(event, LambdaContext(), services)
    answer = Answer(result["statusCode"], result["body"], dict(result.get("headers") or {}))
    if answer.status == 200:
        registry.harvest(_loads_or_none(answer.body))
    else:
        registry.error_bodies.append(answer.body)
    return answer


def to_json(body: Any) -> str:
    """JSON text of ``body``; ``Decimal`` values become JSON numbers written exactly as given
    (``Decimal("25.50")`` -> ``25.50``), so tests can send any number literal."""
    numbers: list[str] = []

    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            numbers.append(str(value))
            return f"\x00{len(numbers) - 1}\x00"
        if isinstance(value, dict):
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [mark(item) for item in value]
        return value

    text = json.dumps(mark(body))
    for index, number in enumerate(numbers):
        text = text.replace(f'"\\u0000{index}\\u0000"', number)
    return text


def _loads_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


# Counting DynamoDB round trips -------------------------------------------------------------------


class CallCounter:
    """Counts API calls on one botocore client (``before-call.<service>.*``) while open."""

    def __init__(self, client: Any, service: str = "dynamodb") -> None:
        self.operations: list[str] = []
        self._events = client.meta.events
        self._event = f"before-call.{service}.*"

    def __enter__(self) -> CallCounter:
        self._events.register(self._event, self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        self._events.unregister(self._event, self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)

    @contextmanager
    def window(self) -> Iterator[list[str]]:
        """The operations made inside the ``with`` block."""
        start = len(self.operations)
        seen: list[str] = []
        try:
            yield seen
        finally:
            seen.extend(self.operations[start:])


class DynamoCalls(CallCounter):
    """Every DynamoDB operation the service's client sends while active, in order (a
    ``CallCounter`` on ``giftcard.aws``'s client).

    >>> with DynamoCalls() as calls:
    ...     invoke("balance", body)
    >>> calls.operations
    ['GetItem']
    """

    def __init__(self) -> None:
        from giftcard import aws

        super().__init__(aws.client("dynamodb"))

    @property
    def count(self) -> int:
        return len(self.operations)

    def by_operation(self) -> Counter[str]:
        return Counter(self.operations)

    def clear(self) -> None:
        self.operations.clear()


@dataclass
class LostResponse:
    operation: str
    fired: int = 0


@contextmanager
def lose_response_once(operation: str = "TransactWriteItems") -> Iterator[LostResponse]:
    """The first ``operation`` call reaches DynamoDB and commits, then its response is lost: the
    caller gets ``ReadTimeoutError`` (what botocore raises when the answer does not arrive)."""
    from botocore.exceptions import ReadTimeoutError

    from giftcard import aws

    lost = LostResponse(operation)
    event = f"after-call.dynamodb.{operation}"

    def hook(**_: Any) -> None:
        if not lost.fired:
            lost.fired += 1
            raise ReadTimeoutError(endpoint_url="x")

    events = aws.client("dynamodb").meta.events
    events.register(event, hook)
    try:
        yield lost
    finally:
        events.unregister(event, hook)


# Secrets and the scanner -------------------------------------------------------------------------

#: Characters that continue a token: a secret found right next to one of them is part of a
#: longer word (a hex digest, a UUID, a timestamp), not the secret itself.
_TOKEN = r"0-9A-Za-z\-:.+_#/"
#: Log fields whose values are safe by design and could coincide with a short secret
#: (``card_last4`` of one card may equal another card's PIN).
SAFE_LOG_FIELDS = frozenset({"card_last4", "timestamp", "location", "request_id", "key_id"})
#: Table attributes that are safe by design (the last 4 digits of the card's own number).
SAFE_ITEM_FIELDS = frozenset({"last4"})
#: Secrets shorter than this (PINs) are only matched as whole tokens, in string values.
SHORT = 8
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+")


@dataclass
class Secrets:
    """What a test handed the service that must never show up in logs, messages or the table."""

    values: dict[str, str] = field(default_factory=dict)  # value -> label
    error_bodies: list[str] = field(default_factory=list)
    #: HTTP suites register what 100 client threads send at once.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, kind: str, value: str | None) -> None:
        with self._lock:
            if not value or value in self.values:
                return
            count = sum(1 for label in self.values.values() if label.startswith(kind + " #"))
            self.values[value] = f"{kind} #{count + 1}"

    def add_card(self, number: str | None, pin: str | None = None) -> None:
        if number:
            digits = re.sub(r"[\s-]", "", number)
            if len(digits) >= SHORT:
                self.add("card number", digits)
                if digits != number.strip():
                    self.add("card number as typed", number.strip())
        if pin and len(pin) >= 4:
            self.add("PIN", pin)

    def harvest(self, data: Any) -> None:
        """Remember the card numbers, PINs and e-mails of a request or response body."""
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, str):
                    if key in {"number", "card_number"}:
                        self.add_card(value)
                    elif key == "pin":
                        self.add_card(None, value)
                    elif key == "email" or (key != "message" and _EMAIL.fullmatch(value)):
                        self.add("e-mail", value)
                else:
                    self.harvest(value)
        elif isinstance(data, list):
            for item in data:
                self.harvest(item)

    def clear(self) -> None:
        self.values.clear()
        self.error_bodies.clear()


#: The per-test registry ``invoke`` fills (reset by the autouse fixture in ``tests/conftest.py``).
SECRETS = Secrets()
#: Always secret, whatever the test did.
ALWAYS = {API_KEY: "API key"}


def _occurs(secret: str, text: str) -> bool:
    if len(secret) >= SHORT:
        return secret in text
    pattern = rf"(?<![{_TOKEN}]){re.escape(secret)}(?![{_TOKEN}])"
    return re.search(pattern, text) is not None


def _strings(value: Any, skip: frozenset[str]) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            if key not in skip:
                yield from _strings(item, skip)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, skip)


def find_secrets(text: str, secrets: Secrets | None = None, *, emails: bool = True) -> list[str]:
    """Labels (never values) of the secrets found in ``text``.

    Long secrets (card numbers, keys, e-mails) are searched in the whole text. Short ones (PINs)
    only as whole tokens inside string values; for JSON log lines the ``SAFE_LOG_FIELDS`` are
    skipped, and numbers (amounts, timestamps) are never compared with a PIN. Any e-mail address
    counts when ``emails`` is set.
    """
    known = {**(secrets.values if secrets else {}), **ALWAYS}
    found: list[str] = []
    long_secrets = {value: label for value, label in known.items() if len(value) >= SHORT}
    short_secrets = {value: label for value, label in known.items() if len(value) < SHORT}
    for value, label in long_secrets.items():
        if value in text:
            found.append(label)
    if short_secrets:
        for line in text.splitlines():
            strings: Iterable[str] = [line]
            if line.lstrip().startswith(("{", "[")):
                with suppress(ValueError):
                    strings = list(_strings(json.loads(line), SAFE_LOG_FIELDS))
            for value, label in short_secrets.items():
                if label not in found and any(_occurs(value, s) for s in strings):
                    found.append(label)
    if emails and "e-mail" not in " ".join(found) and _EMAIL.search(text):
        found.append("an e-mail address")
    return found


def assert_no_secrets(text: str, secrets: Secrets | None = None, *, where: str = "output") -> None:
    found = find_secrets(text, SECRETS if secrets is None else secrets)
    assert not found, f"{where} contains: {', '.join(found)}"


def find_secrets_in_items(items: Iterable[dict[str, Any]], secrets: Secrets) -> list[str]:
    """Labels of secrets found in any attribute of any item, as ``"<label> in <type>.<name>"``.

    Strings and binary values are searched; binary values that are not UTF-8 text (sealed
    ciphertext) are only searched for long secrets, as bytes. Numbers are searched for card
    numbers only (a PIN may equal an amount by chance), and so are ``SAFE_ITEM_FIELDS``.
    """
    found: list[str] = []
    long_secrets = {
        v: label for v, label in {**secrets.values, **ALWAYS}.items() if len(v) >= SHORT
    }
    only_long = Secrets({v: label for v, label in secrets.values.items() if len(v) >= SHORT})
    for item in items:
        kind = str(item.get("type", "item"))
        for name, value in item.items():
            where = f"{kind}.{name}"
            scope = only_long if name in SAFE_ITEM_FIELDS else secrets
            if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3 Binary
                value = value.value
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    found += [
                        f"{label} in {where}"
                        for secret, label in long_secrets.items()
                        if secret.encode() in value
                    ]
                    continue
            if isinstance(value, str):
                found += [f"{label} in {where}" for label in find_secrets(value, scope)]
            elif isinstance(value, int | Decimal):
                found += [
                    f"{label} in {where}"
                    for secret, label in long_secrets.items()
                    if secret in str(value)
                ]
            elif isinstance(value, dict | list | set):
                found += [
                    f"{label} in {where}"
                    for label in find_secrets(json.dumps(value, default=str), scope)
                ]
    return found


# Logs --------------------------------------------------------------------------------------------


class CapturedLogs:
    """The service's log lines (Powertools JSON), formatted exactly as Lambda would print them.

    Powertools' handler writes to the ``sys.stdout`` of import time, which pytest's ``capsys`` /
    ``capfd`` do not see; this adds a second handler with the same formatter for the duration.
    """

    def __init__(self) -> None:
        self._stream = io.StringIO()

    def __enter__(self) -> CapturedLogs:
        from giftcard.observability import logger

        self._logger = logging.getLogger(logger.name)
        self._handler = logging.StreamHandler(self._stream)
        self._handler.setFormatter(logger.registered_formatter)
        self._logger.addHandler(self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self._handler)

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]

    def at(self, level: str) -> list[dict[str, Any]]:
        return [record for record in self.records if record.get("level") == level]

    def messages(self, level: str | None = None) -> list[str]:
        records = self.records if level is None else self.at(level)
        return [str(record.get("message")) for record in records]


# Ledger invariant --------------------------------------------------------------------------------


def assert_ledger_consistent(repository: Any) -> int:
    """For every card in the table: its ledger entries chain from (0, 0) to the card's current
    (balance, held), each entry's ``amount`` is its change of value, and balance + held equals the
    sum of the amounts. Returns the number of cards checked."""
    cards = [item for item in repository.scan_all() if item.get("type") == "card"]
    for index, item in enumerate(cards, start=1):
        lookup = str(item["PK"]).removeprefix("CARD#")
        entries = repository.ledger(lookup)
        balance, held = int(item.get("balance", 0)), int(item.get("held", 0))
        total = sum(entry.amount for entry in entries)
        assert balance + held == total, (
            f"card {index}: balance {balance} + held {held} != ledger sum {total}"
        )
        for entry in entries:
            change = (entry.balance_after + entry.held_after) - (
                entry.balance_before + entry.held_before
            )
            assert entry.amount == change, f"card {index}: entry {entry.kind} amount != its change"
        # Chain in time order; entries written at the same instant (a fixed test clock) are
        # linked by their before/after values, those that move nothing (an operator's freeze)
        # first: taking one where it fits never keeps another from fitting.
        remaining = sorted(entries, key=lambda entry: entry.created_at)
        state = (0, 0)
        while remaining:
            earliest = remaining[0].created_at
            nxt = next(
                (
                    entry
                    for entry in sorted(
                        remaining,
                        key=lambda e: (
                            (e.balance_before, e.held_before) != (e.balance_after, e.held_after)
                        ),
                    )
                    if entry.created_at == earliest
                    and (entry.balance_before, entry.held_before) == state
                ),
                None,
            )
            assert nxt is not None, f"card {index}: ledger chain broken at {earliest}"
            remaining.remove(nxt)
            state = (nxt.balance_after, nxt.held_after)
        assert state == (balance, held), (
            f"card {index}: ledger ends at {state}, card holds {(balance, held)}"
        )
    return len(cards)


# Cards for tests ---------------------------------------------------------------------------------


def card_number(seq: int, prefix: str = "7777", length: int = 16) -> str:
    """A Luhn-valid card number, different for every ``seq`` (printed stock, unknown numbers)."""
    from giftcard.cards import luhn_check_digit

    payload = prefix + str(seq).zfill(length - len(prefix) - 1)
    return payload + luhn_check_digit(payload)


def with_bad_check_digit(number: str) -> str:
    """The same number with a wrong Luhn check digit."""
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def load_stock(rows: Iterable[tuple[str, str | None]], secrets: Secrets | None = None) -> Any:
    """Import printed stock (``(number, pin or None)`` rows) through ``giftcard.stock``."""
    from giftcard import keys
    from giftcard.repository import Repository
    from giftcard.settings import get_settings
    from giftcard.stock import import_stock

    settings = get_settings()
    registry = SECRETS if secrets is None else secrets
    lines = ["number,pin"]
    for number, pin in rows:
        registry.add_card(number, pin)
        lines.append(f"{number},{pin or ''}")
    material = keys.key_material(settings.keys_secret_id, settings.secrets_cache_seconds)
    report = import_stock(lines, Repository(settings.table_name), material, workers=1)
    assert report.ok, f"stock rejected: {report.rejected}"
    return report


def issue_card(
    value: Any = 50, currency: str = "USD", *, services: Any = None, **fields: Any
) -> tuple[str, str]:
    """Issue a card through the issue webhook; returns its (number, PIN). A string ``value`` is
    sent as that JSON number literal."""
    if isinstance(value, str):
        value = Decimal(value)
    body = {"amount": {"value": value, "currency": currency}, "customer": {"id": "c-1"}, **fields}
    answer = invoke("issue", body, services=services)
    assert answer.status == 200, answer.body
    identifier = answer.json["identifier"]
    return identifier["number"], identifier["pin"]
