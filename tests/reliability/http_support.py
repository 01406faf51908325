"""Driving the local run (``tests.support.local_server.LocalApi``) over real HTTP.

- ``Client``: POSTs with the API key; registers every number, PIN and e-mail sent or received as
  a secret for the log scan (``SECRETS``), like ``invoke`` does in-process.
- ``Store``: the local run's table, read through its moto endpoint with the run's own key
  material (from its Secrets Manager), so a test can look at a card, its ledger and its PIN
  counter the way the service stores them.
- ``together``: run N calls in N threads released at the same instant (bounded: a barrier and
  per-request timeouts, loopback only).
- ``service_log_leaks``: the local run's JSON log lines (handlers, authorizer, gateway access log)
  scanned for secrets. The start-up banner is the developer's console (it shows the API key to
  use and example curl commands on purpose) and is not scanned.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, TypeVar

from giftcard.cards import Card
from giftcard.keys import KeyMaterial
from giftcard.repository import Repository
from giftcard.settings import Settings
from giftcard.writes import LedgerEntry
from tests.reliability.leaks import leaks
from tests.support.calls import SECRETS, Secrets, to_json
from tests.support.local_server import LocalApi

T = TypeVar("T")
#: Every HTTP request of these suites gives up after this long (the suites stop by themselves).
REQUEST_TIMEOUT = 30.0


class Client:
    def __init__(self, api: LocalApi, secrets: Secrets = SECRETS) -> None:
        self.api = api
        self.secrets = secrets

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        authorized: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, raw body). ``body`` is sent as JSON (Decimal as exact numbers)."""
        self.secrets.add("API key", self.api.api_key)
        if body is not None:
            self.secrets.harvest(body)
        data = raw if raw is not None else to_json(body).encode()
        sent = {"Content-Type": "application/json"}
        if authorized:
            sent.update(self.api.auth_headers())
        sent.update(headers or {})
        status, answer_headers, answer = self.api.request(
            "POST", path, data, sent, timeout=REQUEST_TIMEOUT
        )
        if status == 200:
            with contextlib.suppress(ValueError):
                self.secrets.harvest(json.loads(answer))
        return status, answer_headers, answer

    def json(self, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
        status, _, answer = self.post(path, body, **kwargs)
        return status, json.loads(answer, parse_float=Decimal, parse_int=Decimal)


class Store:
    """The local run's table through its moto endpoint."""

    def __init__(self, api: LocalApi) -> None:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
        )
        config = Config(retries={"total_max_attempts": 1}, proxies={})
        settings = Settings()
        self.dynamodb = session.client("dynamodb", endpoint_url=api.moto_endpoint, config=config)
        secretsmanager = session.client(
            "secretsmanager", endpoint_url=api.moto_endpoint, config=config
        )
        self.secretsmanager = secretsmanager
        secret = secretsmanager.get_secret_value(SecretId=settings.keys_secret_id)
        self.keys = KeyMaterial.from_master(json.loads(secret["SecretString"])["master"])
        self.repository = Repository(settings.table_name, client=self.dynamodb)

    def card(self, number: str) -> Card:
        card = self.repository.get_card(self.keys.card_lookup(number))
        assert card is not None, "card not in the table"
        return card

    def ledger(self, number: str) -> list[LedgerEntry]:
        return self.repository.ledger(self.keys.card_lookup(number))

    def count(self, kind: str) -> int:
        return sum(1 for item in self.repository.scan_all() if item.get("type") == kind)

    def assert_ledger_matches(self, number: str) -> Card:
        """The card's balance + held equals the sum of its ledger; the ledger chains."""
        card = self.card(number)
        entries = self.ledger(number)
        total = sum(entry.amount for entry in entries)
        assert card.balance + card.held == total, "balance + held differs from the ledger sum"
        assert card.balance >= 0 and card.held >= 0
        running = (0, 0)
        for entry in sorted(entries, key=lambda e: e.sk):
            assert (entry.balance_before, entry.held_before) == running, "ledger does not chain"
            running = (entry.balance_after, entry.held_after)
        assert running == (card.balance, card.held), "ledger does not end at the card's balance"
        return card


def together(count: int, call: Callable[[int], T]) -> list[T]:
    """``call(0..count-1)`` in ``count`` threads released at once; results in order."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T:
        barrier.wait(timeout=REQUEST_TIMEOUT)
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count), timeout=REQUEST_TIMEOUT * 4))


def service_log_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("{")]


def service_log_records(output: str) -> list[dict[str, Any]]:
    """The JSON records of the local run's log lines. Under concurrency two records can share a
    line (the metrics ``print`` and the logger write from different threads; a Lambda serves one
    request at a time, the local run many): each line is split into the objects it holds."""
    decoder = json.JSONDecoder()
    records: list[dict[str, Any]] = []
    for line in service_log_lines(output):
        position = 0
        while position < len(line):
            try:
                record, end = decoder.raw_decode(line, position)
            except ValueError:
                break
            if isinstance(record, dict):
                records.append(record)
            position = end
            while position < len(line) and line[position].isspace():
                position += 1
    return records


def service_log_leaks(output: str, secrets: Secrets = SECRETS) -> list[str]:
    return leaks("\n".join(service_log_lines(output)), secrets)


def error_code(body: bytes) -> str:
    """The contract's error body, checked: exactly ``error_code`` and ``message``."""
    parsed = json.loads(body)
    assert isinstance(parsed, dict) and set(parsed) == {"error_code", "message"}, "bad error body"
    return str(parsed["error_code"])
