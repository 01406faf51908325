"""Round trips: DynamoDB calls per request, counted with botocore's event hooks.

The budget test (``tests/integration/test_round_trip_budget.py``) and ``make bench`` run this
same flow. A realistic flow through the real handlers (issue with a full customer, balances, a
wrong PIN, activation of a printed stock card, deactivation, replays of every mutation, and the
redemption operations once they exist) counts the calls each request makes on the service's own
DynamoDB client. The Powertools idempotency utility's pattern is counted the same way for
comparison.

Works against whatever endpoint boto3 points at: moto in-process (the test) or a moto server on
loopback (the benchmark). Bodies are never printed: an issue answer holds a number and a PIN.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.calls import CallCounter
from tests.support.events import LambdaContext, proxy_event
from tests.support.items import largest_by_type

ROOT = Path(__file__).resolve().parents[2]

#: The redemption operations (counted once their handlers exist).
REDEMPTION = ("instrument_create", "instrument_capture", "instrument_refund", "instrument_revoke")

STORE_ID = "store-berlin-1"
#: A full customer as NewStore sends it (every documented field, realistic lengths).
CUSTOMER = {
    "id": "64810476",
    "email": "jay.doubleyou@example.com",
    "name": "Jay Doubleyou",
}


class FlowError(AssertionError):
    """A step of the flow did not answer as a working service must (status and code only)."""


def available(name: str) -> bool:
    """A route of the registry, or a function folder of its own (authorizer, scheduled jobs)."""
    from giftcard.routes import ROUTES_BY_FUNCTION

    return name in ROUTES_BY_FUNCTION or (ROOT / "functions" / name / "handler.py").is_file()


def load_handler(name: str) -> Callable[..., dict[str, Any]]:
    """The Lambda entry point the stack runs for ``name`` (see ``tests.support.calls.handler``)."""
    from tests.support.calls import handler

    return handler(name)


@dataclass
class Flow:
    """Runs requests through the real handlers and records the DynamoDB calls of each."""

    counter: CallCounter
    counts: dict[str, int] = field(default_factory=dict)
    operations: dict[str, list[str]] = field(default_factory=dict)
    handlers: dict[str, Callable[..., dict[str, Any]]] = field(default_factory=dict)

    def request(
        self,
        label: str,
        function: str,
        body: dict[str, Any],
        *,
        status: int = 200,
        error_code: str | None = None,
        path_parameters: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        from giftcard.routes import ROUTES

        handler = self.handlers.get(function) or self.handlers.setdefault(
            function, load_handler(function)
        )
        path = next(route.path for route in ROUTES if route.function == function)
        event = proxy_event(path, body, path_parameters=path_parameters)
        with self.counter.window() as seen:
            response = handler(event, LambdaContext())
        answer = json.loads(response["body"])
        got_code = answer.get("error_code") if isinstance(answer, dict) else None
        if response["statusCode"] != status or got_code != error_code:
            raise FlowError(
                f"{label}: expected {status} {error_code or ''}, "
                f"got {response['statusCode']} {got_code or ''}"
            )
        self.counts[label] = len(seen)
        self.operations[label] = list(seen)
        return answer  # type: ignore[no-any-return]


def stock_card() -> tuple[str, str]:
    """A printed card (number, PIN) imported as inactive stock, as ``make import-stock`` does."""
    from giftcard import keys
    from giftcard.cards import generate_number, generate_pin
    from giftcard.repository import Repository
    from giftcard.settings import get_settings
    from giftcard.stock import import_stock

    settings = get_settings()
    number = generate_number(settings.card_number_prefix, settings.card_number_length)
    pin = generate_pin(4)
    report = import_stock(
        ["number,pin", f"{number},{pin}"],
        Repository(settings.table_name),
        keys.key_material(settings.keys_secret_id, settings.secrets_cache_seconds),
        workers=1,
    )
    if report.created != 1:
        raise FlowError("stock import did not create the printed card")
    return number, pin


def generate_unknown_number(like: str) -> str:
    """A plausible number (prefix, length, Luhn) that is not ``like``; unknown to the table
    with overwhelming probability."""
    from giftcard.cards import generate_number
    from giftcard.settings import get_settings

    settings = get_settings()
    while (number := generate_number(settings.card_number_prefix, len(like))) == like:
        pass
    return number


def _pin_max_failures() -> int:
    from giftcard.settings import get_settings

    return get_settings().pin_max_failures


def webhook_flow(flow: Flow) -> dict[str, str]:
    """Issue, replay, balances (right, wrong, right again), activate stock, deactivate, replays.

    Returns the numbers and PINs the redemption flow can spend (never printed).
    """
    issue_body = {
        "amount": {"value": 50, "currency": "USD"},
        "customer": CUSTOMER,
        "metadata": {"original_operation": "activation", "store_id": STORE_ID},
        "idempotence_key": str(uuid.uuid4()),
    }
    issued = flow.request("issue", "issue", issue_body)
    replayed = flow.request("issue_replay", "issue", issue_body)
    if replayed != issued:
        raise FlowError("issue_replay: the replay differs from the first answer")
    number, pin = issued["identifier"]["number"], issued["identifier"]["pin"]
    wrong = "0000" if pin != "0000" else "1111"
    metadata = {"store_id": STORE_ID}

    def balance(label: str, card_number: str, sent: str, refused: bool = False) -> None:
        body = {"identifier": {"number": card_number, "pin": sent}, "metadata": metadata}
        if refused:
            flow.request(label, "balance", body, status=400, error_code="invalid_card")
        else:
            flow.request(label, "balance", body)

    balance("balance", number, pin)
    balance("balance_wrong_pin", number, wrong, refused=True)
    balance("balance_pin_reset", number, pin)
    balance("balance_unknown_number", generate_unknown_number(number), pin, refused=True)
    # Lock the card: the window's last guess carries the lock; then even the right PIN is refused.
    for _ in range(_pin_max_failures() - 1):
        balance("balance_wrong_pin", number, wrong, refused=True)
    balance("balance_locking_guess", number, wrong, refused=True)
    balance("balance_locked", number, pin, refused=True)

    stock_number, stock_pin = stock_card()
    activate_body = {
        "card_number": stock_number,
        "amount": {"value": 100, "currency": "USD"},
        "customer": CUSTOMER,
        "metadata": {"original_operation": "activation", "store_id": STORE_ID},
        "idempotence_key": str(uuid.uuid4()),
    }
    flow.request("activate", "activate", activate_body)
    flow.request("activate_replay", "activate", activate_body)

    deactivate_body = {
        "card_number": number,
        "store_id": STORE_ID,
        "idempotence_key": str(uuid.uuid4()),
    }
    flow.request("deactivate", "deactivate", deactivate_body)
    flow.request("deactivate_replay", "deactivate", deactivate_body)
    return {"number": stock_number, "pin": stock_pin}


def redemption_flow(flow: Flow, card: dict[str, str]) -> None:
    """Reserve, capture, refund and revoke (each with its replay) on the activated stock card,
    when the redemption handlers exist."""
    if not all(available(name) for name in REDEMPTION):
        return
    metadata = {"store_id": STORE_ID, "order_id": "ORD-2026-000123"}
    create_body = {
        "idempotency_key": str(uuid.uuid4()),
        "instrument": {"number": card["number"], "pin": card["pin"]},
        "amount": 40,
        "currency": "USD",
        "account_id": "acct-7d1f0b9c",
        "metadata": metadata,
    }
    created = flow.request("instrument_create", "instrument_create", create_body)
    flow.request("instrument_create_replay", "instrument_create", create_body)
    instrument = {"instrument_id": str(created["identifier"])}
    for operation, amount in (("capture", 30), ("refund", 10), ("revoke", None)):
        body: dict[str, Any] = {"idempotency_key": str(uuid.uuid4()), "metadata": metadata}
        if amount is not None:
            body.update(amount=amount, currency="USD")
        name = f"instrument_{operation}"
        flow.request(name, name, body, path_parameters=instrument)
        flow.request(f"{name}_replay", name, body, path_parameters=instrument)
    # Deactivation with the PIN sent: the guess is charged before it is compared.
    flow.request(
        "deactivate_with_pin",
        "deactivate",
        {"card_number": card["number"], "pin": card["pin"], "idempotence_key": str(uuid.uuid4())},
    )


def round_trips(*, with_redemption: bool = True) -> tuple[dict[str, int], dict[str, list[str]]]:
    """DynamoDB calls per request through the real handlers; call inside an AWS stand-in."""
    from giftcard import aws

    with CallCounter(aws.client("dynamodb")) as counter:
        flow = Flow(counter)
        card = webhook_flow(flow)
        if with_redemption:
            redemption_flow(flow, card)
    return flow.counts, flow.operations


def stored_item_sizes(table_name: str | None = None) -> dict[str, int]:
    """Largest stored item per kind (card, entry, record, instrument), in DynamoDB bytes."""
    import boto3

    client = boto3.client("dynamodb")
    name = table_name or os.environ["TABLE_NAME"]
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": name}
    while True:
        page = client.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return largest_by_type(items)


# The usual alternative: Powertools' idempotency utility ----------------------------------------

POWERTOOLS_TABLE = "powertools-idempotency"


def powertools_round_trips() -> dict[str, int]:
    """DynamoDB calls of a minimal handler using Powertools' ``@idempotent`` around one PutItem.

    Its pattern: PutItem (in-progress record), the business write, UpdateItem (completed record):
    three calls, and the record is not committed atomically with the business write.
    """
    import boto3
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent,
    )

    client = boto3.client("dynamodb")
    existing = client.list_tables().get("TableNames", [])
    if POWERTOOLS_TABLE not in existing:
        client.create_table(
            TableName=POWERTOOLS_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    persistence = DynamoDBPersistenceLayer(table_name=POWERTOOLS_TABLE, boto3_client=client)
    config = IdempotencyConfig(event_key_jmespath="powertools_json(body).idempotence_key")
    table_name = os.environ["TABLE_NAME"]

    @idempotent(persistence_store=persistence, config=config)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        client.put_item(
            TableName=table_name,
            Item={"PK": {"S": f"POWERTOOLS#{uuid.uuid4().hex}"}, "SK": {"S": "ENTRY"}},
        )
        return {"statusCode": 200, "body": json.dumps({"ok": True})}

    event = {"body": json.dumps({"idempotence_key": str(uuid.uuid4())})}
    counts = {}
    with CallCounter(client) as counter:
        for label in ("powertools_idempotent", "powertools_idempotent_replay"):
            with counter.window() as seen:
                handler(event, LambdaContext())
            counts[label] = len(seen)
    client.delete_table(TableName=POWERTOOLS_TABLE)
    return counts
