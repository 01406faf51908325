"""The ledger model's driver: the real handlers in-process on moto; amounts as the contract
writes them."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from giftcard import http, table
from giftcard.clock import FixedClock
from giftcard.keys import KeyMaterial, key_material
from giftcard.repository import Repository
from giftcard.settings import Settings, get_settings
from tests.support.calls import PATHS, SECRETS, Secrets, handler, invoke, to_json
from tests.support.calls import card_number as _card_number
from tests.support.events import LambdaContext, proxy_event

#: 2027-01-15: far from any real clock, so nothing here depends on when the tests run.
START_EPOCH = 1_800_000_000.0
#: Printed stock in these suites starts with this (issued cards use the default 7777).
STOCK_PREFIX = "6000"

_tables = itertools.count(1)
#: The operator of the back office rules.
ACTOR = "arn:aws:iam::123456789012:user/ledger-model"


def card_number(seed: int) -> str:
    """A Luhn-valid stock number derived from ``seed`` (hypothesis prints seeds, not numbers)."""
    return _card_number(seed % 10**11, prefix=STOCK_PREFIX)


def major_text(minor: int, digits: int) -> str:
    """How the contract writes an amount: a JSON number with no trailing noise."""
    if digits == 0:
        return str(minor)
    whole, fraction = divmod(minor, 10**digits)
    tail = str(fraction).zfill(digits).rstrip("0")
    return f"{whole}.{tail}" if tail else str(whole)


def major(minor: int, digits: int) -> Decimal:
    return Decimal(minor).scaleb(-digits)


def parse_raw_numbers(body: str) -> Any:
    """The body with every number kept as its exact text."""
    return json.loads(body, parse_float=str, parse_int=str)


class Harness:
    """One small table, the real handlers and injected services (fixed clock, no sleeping)."""

    def __init__(self, secrets: Secrets = SECRETS, **overrides: Any) -> None:
        import boto3

        self.table_name = f"reliability-{next(_tables)}"
        boto3.client("dynamodb").create_table(**table.create_table_kwargs(self.table_name))
        self.settings: Settings = get_settings().model_copy(
            update={"table_name": self.table_name, **overrides}
        )
        self.clock = FixedClock(START_EPOCH)
        self.repository = Repository(self.table_name)
        self.services = http.Services(
            self.settings, self.repository, clock=self.clock, sleep=lambda _seconds: None
        )
        self.secrets = secrets

    @property
    def keys(self) -> KeyMaterial:
        return key_material(self.settings.keys_secret_id, self.settings.secrets_cache_seconds)

    def call(
        self,
        name: str,
        body: Any = None,
        *,
        raw: str | None = None,
        instrument_id: str | None = None,
    ) -> tuple[int, str]:
        """One webhook through its ``lambda_handler``: (status, exact body text). Numbers, PINs
        and e-mails sent and received are registered as secrets for the log scan.
        ``instrument_id`` travels as the path parameter, as API Gateway passes it."""
        if instrument_id is None:
            answer = invoke(name, body, raw=raw, services=self.services, secrets=self.secrets)
            assert answer.headers.get("Content-Type") == "application/json"
            return answer.status, answer.body
        self.secrets.harvest(body)
        resource = PATHS[name]
        event = proxy_event(resource, None, raw=raw if raw is not None else to_json(body))
        event["path"] = resource.replace("{instrument_id}", instrument_id)
        event["pathParameters"] = {"instrument_id": instrument_id}
        result = handler(name)(event, LambdaContext(), self.services)
        assert result["headers"]["Content-Type"] == "application/json"
        return result["statusCode"], result["body"]

    def operate(self, name: str, body: Any) -> tuple[int, str]:
        """One back office operation, as its handler will call it, by the operator ``ACTOR``."""
        from tests.support.operator import Operator

        # (no tick: the rules move the clock themselves, and the model reads it)
        operator = Operator(self.services, actor=ACTOR, secrets=self.secrets, tick=0)
        answer = operator.call(name, body)
        return answer.status, answer.body

    def run_expiry_job(self) -> dict[str, int]:
        summary: dict[str, int] = handler("reservation_expiry")(
            {"source": "test"}, LambdaContext(), self.services
        )
        return summary

    def drop(self) -> None:
        import boto3
        from moto.core.model_instances import model_data

        boto3.client("dynamodb").delete_table(TableName=self.table_name)
        # moto records every model instance it ever made (for its dashboard), and a transaction
        # deep-copies the whole table: over thousands of examples in one mock that is gigabytes.
        for model in model_data.get("dynamodb", {}).values():
            model.instances_tracked = []  # type: ignore[attr-defined]


@contextmanager
def harness(**overrides: Any) -> Iterator[Harness]:
    current = Harness(**overrides)
    try:
        yield current
    finally:
        current.drop()


def error_code(status: int, body: str) -> str | None:
    """The contract's error body, checked: exactly ``error_code`` and ``message``."""
    if status == 200:
        return None
    parsed = json.loads(body)
    assert isinstance(parsed, dict) and set(parsed) == {"error_code", "message"}, "bad error body"
    assert isinstance(parsed["message"], str) and parsed["message"]
    return str(parsed["error_code"])
