"""Warm overhead: a warm handler against the raw DynamoDB calls it makes, on one loopback server.

For each webhook the real ``lambda_handler`` is called in-process (warm: clients, settings,
secrets and validators already built) against the moto server. The exact DynamoDB requests it
sent are recorded (botocore's ``provide-client-params`` hook), the table is put back as it was,
and the same requests (same operations, same items, same sizes) are sent again with a plain
boto3 client: that is the physical floor for this request on this machine. Then the table is put
back again, so every sample starts from the same tiny table (moto copies the whole table in a
transaction; a growing table would slow both sides and dilute the ratio).

``warm_overhead_ratio`` = median(handler) / median(raw calls), pairs interleaved.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from tests.support.events import LambdaContext, proxy_event
from tests.support.flows import CUSTOMER, STORE_ID, FlowError, load_handler

Key = tuple[str, str]


@dataclass
class Timing:
    handler: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.handler) / statistics.median(self.raw)


class Recorder:
    """The DynamoDB requests (operation, parameters) a client makes while the recorder is open."""

    EVENT = "provide-client-params.dynamodb.*"

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._events = client.meta.events

    def __enter__(self) -> Recorder:
        self._events.register(self.EVENT, self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        self._events.unregister(self.EVENT, self._seen)

    def _seen(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, params))

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        calls, self.calls = self.calls, []
        return calls


def _key(item: dict[str, Any]) -> Key:
    return item["PK"]["S"], item["SK"]["S"]


def written_keys(calls: list[tuple[str, dict[str, Any]]]) -> list[Key]:
    """Keys of every item the recorded requests may have changed."""
    keys: list[Key] = []
    for operation, params in calls:
        if operation == "TransactWriteItems":
            for action in params["TransactItems"]:
                if "Put" in action:
                    keys.append(_key(action["Put"]["Item"]))
                elif "Update" in action:
                    keys.append(_key(action["Update"]["Key"]))
                elif "Delete" in action:
                    keys.append(_key(action["Delete"]["Key"]))
        elif operation == "PutItem":
            keys.append(_key(params["Item"]))
        elif operation in ("UpdateItem", "DeleteItem"):
            keys.append(_key(params["Key"]))
    return keys


class Table:
    """The table through a plain boto3 client: snapshot, restore, raw replay."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name
        self.snapshot: dict[Key, dict[str, Any]] = {}

    def take_snapshot(self) -> None:
        self.snapshot = {_key(item): item for item in self.scan()}

    def scan(self) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": self.name}
        while True:
            page = self.client.scan(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def restore(self, keys: list[Key]) -> None:
        for pk, sk in dict.fromkeys(keys):
            before = self.snapshot.get((pk, sk))
            if before is not None:
                self.client.put_item(TableName=self.name, Item=before)
            else:
                self.client.delete_item(TableName=self.name, Key={"PK": {"S": pk}, "SK": {"S": sk}})

    def replay(self, calls: list[tuple[str, dict[str, Any]]]) -> None:
        from botocore import xform_name

        for operation, params in calls:
            getattr(self.client, xform_name(operation))(**params)


@dataclass
class Scenario:
    """One webhook: how to prepare the table once, and the request body of each sample."""

    name: str
    function: str
    setup: Callable[[], dict[str, Any]]
    body: Callable[[dict[str, Any]], dict[str, Any]]
    path_parameters: Callable[[dict[str, Any]], dict[str, str] | None] = lambda _: None


def _call(function: str, body: dict[str, Any], path: dict[str, str] | None = None) -> Any:
    """An unmeasured request through the real handler (setting the table up)."""
    import json

    from giftcard.routes import ROUTES

    route = next(r.path for r in ROUTES if r.function == function)
    response = load_handler(function)(
        proxy_event(route, body, path_parameters=path), LambdaContext("bench")
    )
    if response["statusCode"] != 200:
        raise FlowError(f"setup {function}: {response['statusCode']}")
    return json.loads(response["body"])


def _issued() -> dict[str, Any]:
    answer = _call(
        "issue",
        {
            "amount": {"value": 100, "currency": "USD"},
            "customer": CUSTOMER,
            "metadata": {"store_id": STORE_ID},
        },
    )
    return dict(answer["identifier"])


def _stock() -> dict[str, Any]:
    from tests.support.flows import stock_card

    number, pin = stock_card()
    return {"number": number, "pin": pin}


def _key_() -> str:
    return str(uuid.uuid4())


def _reserved(captured: bool = False) -> Callable[[], dict[str, Any]]:
    def setup() -> dict[str, Any]:
        card = _issued()
        created = _call(
            "instrument_create",
            {
                "idempotency_key": _key_(),
                "instrument": card,
                "amount": 60,
                "currency": "USD",
                "metadata": {"store_id": STORE_ID},
            },
        )
        instrument = {"instrument_id": str(created["identifier"])}
        if captured:
            _call(
                "instrument_capture",
                {"idempotency_key": _key_(), "amount": 30, "currency": "USD"},
                instrument,
            )
        return {**card, **instrument}

    return setup


def scenarios(redemption: bool) -> list[Scenario]:
    payment_metadata = {"store_id": STORE_ID}
    found = [
        Scenario(
            "balance",
            "balance",
            _issued,
            lambda card: {
                "identifier": {"number": card["number"], "pin": card["pin"]},
                "metadata": {"store_id": STORE_ID},
            },
        ),
        Scenario(
            "issue",
            "issue",
            dict,
            lambda _: {
                "amount": {"value": 50, "currency": "USD"},
                "customer": CUSTOMER,
                "metadata": {"original_operation": "activation", "store_id": STORE_ID},
                "idempotence_key": _key_(),
            },
        ),
        Scenario(
            "activate",
            "activate",
            _stock,
            lambda card: {
                "card_number": card["number"],
                "amount": {"value": 100, "currency": "USD"},
                "customer": CUSTOMER,
                "metadata": {"original_operation": "activation", "store_id": STORE_ID},
                "idempotence_key": _key_(),
            },
        ),
        Scenario(
            "deactivate",
            "deactivate",
            _issued,
            lambda card: {
                "card_number": card["number"],
                "store_id": STORE_ID,
                "idempotence_key": _key_(),
            },
        ),
    ]
    if redemption:
        found += [
            Scenario(
                "instrument_create",
                "instrument_create",
                _issued,
                lambda card: {
                    "idempotency_key": _key_(),
                    "instrument": {"number": card["number"], "pin": card["pin"]},
                    "amount": 10,
                    "currency": "USD",
                    "metadata": payment_metadata,
                },
            ),
            Scenario(
                "instrument_capture",
                "instrument_capture",
                _reserved(),
                lambda _: {
                    "idempotency_key": _key_(),
                    "amount": 10,
                    "currency": "USD",
                    "metadata": payment_metadata,
                },
                lambda state: {"instrument_id": state["instrument_id"]},
            ),
            Scenario(
                "instrument_refund",
                "instrument_refund",
                _reserved(captured=True),
                lambda _: {
                    "idempotency_key": _key_(),
                    "amount": 10,
                    "currency": "USD",
                    "metadata": payment_metadata,
                },
                lambda state: {"instrument_id": state["instrument_id"]},
            ),
            Scenario(
                "instrument_revoke",
                "instrument_revoke",
                _reserved(),
                lambda _: {"idempotency_key": _key_(), "metadata": payment_metadata},
                lambda state: {"instrument_id": state["instrument_id"]},
            ),
        ]
    return found


@contextmanager
def quiet_logs() -> Iterator[None]:
    """The service's log lines and metrics still formatted and written (that is part of the
    cost), but to a sink instead of the terminal."""
    import io
    import logging

    from giftcard.observability import logger

    sink = io.StringIO()
    handlers = logging.getLogger(logger.name).handlers
    streams = [h.setStream(sink) for h in handlers if isinstance(h, logging.StreamHandler)]
    try:
        with redirect_stdout(sink):
            yield
    finally:
        for handler, stream in zip(
            [h for h in handlers if isinstance(h, logging.StreamHandler)], streams, strict=True
        ):
            handler.setStream(stream)


def reset_table(client: Any, name: str) -> None:
    """Start a scenario from an empty table (small tables keep moto's per-call cost minimal)."""
    from giftcard import table

    client.delete_table(TableName=name)
    client.create_table(**table.create_table_kwargs(name))


def _timed_replay(table: Table, calls: list[tuple[str, dict[str, Any]]]) -> float:
    """Seconds the raw replay of ``calls`` took; the table is put back afterwards."""
    started = time.perf_counter()
    table.replay(calls)
    elapsed = time.perf_counter() - started
    table.restore(written_keys(calls))
    return elapsed


def raw_client() -> Any:
    """A plain boto3 client configured like the service's own (``giftcard.aws``): timeouts, one
    attempt, keep-alive. Only our code differs between the two sides."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "dynamodb",
        config=Config(
            connect_timeout=2,
            read_timeout=5,
            retries={"total_max_attempts": 1},
            tcp_keepalive=True,
            max_pool_connections=64,
        ),
    )


def measure(
    scenario: Scenario, samples: int, *, budget: float = 8.0, warmup: int = 10, least: int = 30
) -> Timing:
    """``samples`` interleaved pairs (handler, raw replay) after ``warmup`` unmeasured ones;
    fewer (but at least ``least``) when ``budget`` seconds run out first."""
    import os

    from giftcard import aws
    from giftcard.routes import ROUTES

    name = os.environ["TABLE_NAME"]
    raw = raw_client()
    reset_table(raw, name)
    table = Table(raw, name)
    state = scenario.setup()
    table.take_snapshot()
    handler = load_handler(scenario.function)
    route = next(r.path for r in ROUTES if r.function == scenario.function)
    timing = Timing()
    deadline = time.perf_counter() + budget
    # The same hook on both sides; the raw side's recording is simply not used.
    previous: list[tuple[str, dict[str, Any]]] = []
    with Recorder(aws.client("dynamodb")) as recorder, Recorder(raw) as raw_recorder:
        for index in range(warmup + samples):
            event = proxy_event(
                route, scenario.body(state), path_parameters=scenario.path_parameters(state)
            )
            context = LambdaContext("bench")
            # Odd samples replay the previous request's calls first: neither side always
            # follows the other.
            raw_first = index % 2 == 1 and bool(previous)
            if raw_first:
                raw_seconds = _timed_replay(table, previous)
            recorder.take()
            raw_recorder.take()
            started = time.perf_counter()
            response = handler(event, context)
            handled = time.perf_counter()
            calls = recorder.take()
            if response["statusCode"] != 200:
                raise FlowError(f"warm {scenario.name}: {response['statusCode']}")
            table.restore(written_keys(calls))
            if not raw_first:
                raw_seconds = _timed_replay(table, calls)
            previous = calls
            if index >= warmup:
                timing.handler.append(handled - started)
                timing.raw.append(raw_seconds)
            timing.operations = [operation for operation, _ in calls]
            if len(timing.handler) >= least and time.perf_counter() > deadline:
                break
    return timing
