"""Storage faults injected with botocore event hooks on a real (moto-backed) client.

``before-call`` hooks raise before the request leaves: nothing reaches the table, exactly like a
transaction DynamoDB cancelled for a conflict or throttled. ``after-call`` hooks raise after
the table committed: the response is lost on the way back (a read timeout), the case where
the service must replay its own committed transaction instead of executing it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError

CONFLICT = "conflict"
THROTTLE = "throttle"
LOST = "lost"

_THROTTLE_CODES = ("ThrottlingException", "ProvisionedThroughputExceededException")


def transaction_conflict(client: Any, params: dict[str, Any]) -> ClientError:
    """What DynamoDB answers when another transaction holds one of the items."""
    try:
        count = len(json.loads(params.get("body") or b"{}").get("TransactItems", [])) or 1
    except ValueError:
        count = 1
    reasons: list[dict[str, str]] = [{"Code": "None"} for _ in range(count)]
    reasons[min(1, count - 1)] = {
        "Code": "TransactionConflict",
        "Message": "Transaction is ongoing for the item",
    }
    error: ClientError = client.exceptions.TransactionCanceledException(
        {
            "Error": {
                "Code": "TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons",
            },
            "CancellationReasons": reasons,
        },
        "TransactWriteItems",
    )
    return error


def throttled(operation: str, index: int = 0) -> ClientError:
    code = _THROTTLE_CODES[index % len(_THROTTLE_CODES)]
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, operation)


@dataclass
class FaultPlan:
    """The faults the next calls of one operation meet; counts what happened."""

    operation: str = "TransactWriteItems"
    kind: str | None = None
    remaining: int = 0
    calls: int = 0
    committed: int = 0
    injected: int = 0

    def arm(self, kind: str | None, times: int = 1) -> None:
        self.kind, self.remaining = kind, (times if kind else 0)
        self.calls = self.committed = self.injected = 0

    def disarm(self) -> None:
        self.kind, self.remaining = None, 0

    def before(self, client: Any, params: dict[str, Any]) -> None:
        self.calls += 1
        if self.kind in (CONFLICT, THROTTLE) and self.remaining > 0:
            self.remaining -= 1
            self.injected += 1
            if self.kind == CONFLICT and self.operation == "TransactWriteItems":
                raise transaction_conflict(client, params)
            raise throttled(self.operation, self.injected)

    def after(self, status_code: int) -> None:
        if status_code < 300:
            self.committed += 1
            if self.kind == LOST and self.remaining > 0:
                self.remaining -= 1
                self.injected += 1
                raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/")


@contextmanager
def injected(client: Any, plan: FaultPlan, service: str = "dynamodb") -> Iterator[FaultPlan]:
    """Hook ``plan`` into ``client`` for ``plan.operation`` while the block runs."""

    def before(params: dict[str, Any], **_: Any) -> None:
        plan.before(client, params)

    def after(http_response: Any, **_: Any) -> None:
        plan.after(http_response.status_code)

    events = client.meta.events
    before_event = f"before-call.{service}.{plan.operation}"
    after_event = f"after-call.{service}.{plan.operation}"
    events.register(before_event, before, unique_id=f"fault-before-{id(plan)}")
    events.register(after_event, after, unique_id=f"fault-after-{id(plan)}")
    try:
        yield plan
    finally:
        events.unregister(before_event, unique_id=f"fault-before-{id(plan)}")
        events.unregister(after_event, unique_id=f"fault-after-{id(plan)}")
