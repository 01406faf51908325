"""The reservation expiry job (EventBridge schedule) on moto, with a clock the test moves."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from functions.reservation_expiry.handler import ReservationExpiryIncomplete, lambda_handler
from giftcard import aws, settlement
from giftcard.items import CARD_SK, card_pk
from tests.integration.test_redemption import WEEK, Api, make_api
from tests.support.aws import TABLE, offline_aws
from tests.support.calls import DynamoCalls
from tests.support.events import LambdaContext

SCHEDULED_EVENT = {
    "version": "0",
    "id": "f0e1d2c3-0000-4000-8000-000000000000",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "time": "2027-01-22T08:00:00Z",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/reservation-expiry"],
    "detail": {},
}


class ShortContext(LambdaContext):
    """A Lambda context whose invocation is about to time out."""

    def get_remaining_time_in_millis(self) -> int:
        return 5_000


@pytest.fixture
def api() -> Iterator[Api]:
    with offline_aws():
        yield make_api()


def run_job(api: Api, context: Any = None) -> dict[str, int]:
    return lambda_handler(dict(SCHEDULED_EVENT), context or LambdaContext(), services=api.services)


def emitted(capsys: pytest.CaptureFixture[str], metric: str) -> list[float]:
    """Values of ``metric`` in the CloudWatch embedded-metric lines printed so far."""
    values: list[float] = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and metric in line:
            value = json.loads(line)[metric]
            values.extend(value if isinstance(value, list) else [value])
    return values


def test_expired_reservations_are_released_with_ledger_entries(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a reservation partly captured, one on a card deactivated since, and a younger one
    spent = api.issue(100)
    partly = api.reserve(spent, 30).body["identifier"]
    assert api.capture(partly, 10).status == 200
    lost = api.issue(100)
    on_lost = api.reserve(lost, 40).body["identifier"]
    assert api.deactivate(lost).status == 200
    api.clock.advance(2 * 86400)
    young_card = api.issue(100)
    young = api.reserve(young_card, 20).body["identifier"]

    # When the job runs once the first two have expired
    api.clock.advance(WEEK - 2 * 86400 + 1)
    summary = run_job(api)

    # Then exactly those two are released: back to the live card, voided on the deactivated one
    assert summary == {"found": 2, "released": 2, "skipped": 0, "failed": 0, "deferred": 0}
    assert api.spendable(spent) == 90
    release = api.ledger(spent)[-1]
    assert (release.kind, release.amount, release.instrument_id) == ("release", 0, partly)
    assert (release.balance_after, release.held_after) == (9000, 0)
    void = api.ledger(lost)[-1]
    assert (void.kind, void.amount, void.instrument_id) == ("release_void", -4000, on_lost)
    assert api.stored_card(lost).held == 0
    assert api.instrument(young).reserved == 2000
    assert api.spendable(young_card) == 80
    # the released reservations can no longer be captured or revoked; captured money is refundable
    assert api.capture(partly, 1).error_code == "failed_command"
    assert api.revoke(partly).error_code == "failed_command"
    assert api.refund(partly, 10).status == 200
    # and the run reported how many it released
    assert emitted(capsys, "ReservationsExpired") == [2.0]
    api.assert_invariants()

    # When the job runs again, it has nothing left to do
    assert run_job(api)["found"] == 0

    # and the younger reservation goes when its own time comes
    api.clock.advance(2 * 86400)
    assert run_job(api)["released"] == 1
    assert api.spendable(young_card) == 100
    api.assert_invariants()


def test_a_reservation_is_released_once_whoever_comes_first(api: Api) -> None:
    card = api.issue(100)
    instrument_id = api.reserve(card, 30).body["identifier"]
    api.clock.advance(WEEK)
    call = api.services.context("test", "scheduler")

    # the job and a re-run of the same step: the second finds nothing reserved. A release is
    # two DynamoDB calls: instrument and card in one read (the id names the card), one write.
    with DynamoCalls() as calls:
        assert settlement.expire_one(call, instrument_id) is True
    assert calls.operations == ["BatchGetItem", "TransactWriteItems"]
    assert settlement.expire_one(call, instrument_id) is False
    # a revoke that arrives after the job: nothing left
    assert api.revoke(instrument_id).error_code == "failed_command"
    # not expired (yet) or unknown: nothing happens
    other = api.reserve(card, 10).body["identifier"]
    assert settlement.expire_one(call, other) is False
    assert settlement.expire_one(call, uuid.uuid4().hex) is False
    assert [e.kind for e in api.ledger(card)] == ["issue", "hold", "release", "hold"]
    assert api.spendable(card) == 90
    api.assert_invariants()


def test_a_run_short_of_time_leaves_the_rest_to_the_next(api: Api) -> None:
    card = api.issue(100)
    instrument_id = api.reserve(card, 30).body["identifier"]
    api.clock.advance(WEEK + 1)

    summary = run_job(api, ShortContext())

    assert summary["deferred"] == 1 and summary["released"] == 0
    assert api.instrument(instrument_id).reserved == 3000
    assert run_job(api)["released"] == 1
    api.assert_invariants()


def test_one_broken_reservation_does_not_stop_the_others(api: Api) -> None:
    # Given two expired reservations, one of whose card has vanished from storage
    card = api.issue(100)
    good = api.reserve(card, 30).body["identifier"]
    broken_card = api.issue(100)
    broken = api.reserve(broken_card, 30).body["identifier"]
    aws.client("dynamodb").delete_item(
        TableName=TABLE,
        Key={"PK": {"S": card_pk(api.lookup(broken_card))}, "SK": {"S": CARD_SK}},
    )
    api.clock.advance(WEEK + 1)

    # When the job runs, it releases what it can and then fails the invocation (alarm, retry)
    with pytest.raises(ReservationExpiryIncomplete):
        run_job(api)

    # Then the good one is released and the broken one is left as it was
    assert api.instrument(good).reserved == 0
    assert api.spendable(card) == 100
    assert api.instrument(broken).reserved == 3000
