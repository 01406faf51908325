"""16 concurrent payment operations on one card, in-process on moto.

Every request must end in its business answer (200, instrument_error, failed_command), never 503,
and no money may be reserved or captured twice.

DynamoDB makes each call atomic; moto in-process does not (a transaction checks its conditions,
then writes, and rolls back by restoring a table copy, with no lock against other threads). The
``atomic_calls`` fixture restores DynamoDB's guarantee by running one DynamoDB call at a time, while
requests still interleave freely between their calls: the read-decide-write races the service must
survive all happen. The same scenarios run over real HTTP against the local run elsewhere.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from giftcard import aws
from giftcard.clock import Clock
from giftcard.http import Services
from giftcard.repository import Repository
from giftcard.settings import get_settings
from tests.integration.test_redemption import Answer, Api
from tests.support.aws import TABLE, offline_aws

CONCURRENCY = 16
TIME_LIMIT_SECONDS = 60


@pytest.fixture
def api() -> Iterator[Api]:
    """Real clock and real (jittered) backoff sleeps, as in production."""
    with offline_aws():
        services = Services(settings=get_settings(), repository=Repository(TABLE), clock=Clock())
        api = Api(services, clock=None)
        yield api


@pytest.fixture
def atomic_calls(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """One DynamoDB call at a time (what DynamoDB guarantees per call); counts the calls made."""
    client = aws.client("dynamodb")
    original = client._make_api_call
    lock = threading.Lock()
    counts: Counter[str] = Counter()

    def atomic(operation: str, params: dict[str, Any]) -> Any:
        with lock:
            counts[operation] += 1
            return original(operation, params)

    monkeypatch.setattr(client, "_make_api_call", atomic)
    yield counts


def all_at_once(requests: list[Callable[[], Answer]]) -> list[Answer]:
    """Run the requests on one thread each, released together; bounded in time."""
    start = threading.Barrier(len(requests))

    def run(request: Callable[[], Answer]) -> Answer:
        start.wait(timeout=10)
        return request()

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        futures = [pool.submit(run, request) for request in requests]
        answers = [future.result(timeout=TIME_LIMIT_SECONDS) for future in futures]
    assert time.monotonic() - began < TIME_LIMIT_SECONDS
    return answers


def outcomes(answers: list[Answer]) -> Counter[str]:
    return Counter("ok" if a.status == 200 else str(a.error_code) for a in answers)


def test_16_concurrent_reservations_never_spend_a_card_twice(
    api: Api, atomic_calls: Counter[str]
) -> None:
    # Given a card holding 100
    card = api.issue(100)

    # When 16 reservations of 10 arrive at once
    answers = all_at_once([lambda: api.reserve(card, 10) for _ in range(CONCURRENCY)])

    # Then exactly 10 succeed, the others are refused for lack of funds, none is 503
    assert outcomes(answers) == {"ok": 10, "instrument_error": 6}
    assert api.spendable(card) == 0
    identifiers = {a.body["identifier"] for a in answers if a.status == 200}
    assert len(identifiers) == 10
    assert sum(api.instrument(i).reserved for i in identifiers) == 10000
    assert [e.kind for e in api.ledger(card)].count("hold") == 10
    api.assert_invariants()


def test_concurrent_captures_never_exceed_the_reservation(
    api: Api, atomic_calls: Counter[str]
) -> None:
    # Given 100 reserved on a card
    card = api.issue(150)
    instrument_id = api.reserve(card, 100).body["identifier"]

    # When 16 captures of 10 arrive at once
    answers = all_at_once([lambda: api.capture(instrument_id, 10) for _ in range(CONCURRENCY)])

    # Then exactly the reserved 100 are captured
    assert outcomes(answers) == {"ok": 10, "failed_command": 6}
    instrument = api.instrument(instrument_id)
    assert (instrument.captured, instrument.reserved) == (10000, 0)
    assert api.spendable(card) == 50
    api.assert_invariants()


def test_16_mixed_operations_on_one_card_all_get_their_business_answer(
    api: Api, atomic_calls: Counter[str]
) -> None:
    # Given a card holding 200 with four reservations of 30, two of them fully captured
    card = api.issue(200)
    held = [api.reserve(card, 30).body["identifier"] for _ in range(4)]
    for instrument_id in held[2:]:
        assert api.capture(instrument_id, 30).status == 200

    # When 16 operations of every kind hit the card at once
    requests: list[Callable[[], Answer]] = []
    for _ in range(2):
        requests += [
            lambda: api.reserve(card, 20),
            lambda: api.reserve(card, 20),
            lambda: api.capture(held[0], 10),
            lambda: api.capture(held[1], 20),
            lambda: api.revoke(held[1]),
            lambda: api.refund(held[2], 20),
            lambda: api.refund(held[3], 15),
            lambda: api.reserve(card, 500, allow_partial=True),
        ]
    answers = all_at_once(requests)

    # Then each gets a business answer, and the card's books still balance
    assert all(a.status in (200, 400) for a in answers), outcomes(answers)
    assert set(outcomes(answers)) <= {"ok", "instrument_error", "failed_command"}
    for instrument_id in held:
        instrument = api.instrument(instrument_id)
        assert instrument.captured + instrument.released <= instrument.authorized
        assert instrument.refunded <= instrument.captured
    api.assert_invariants()


def test_the_same_key_sent_16_times_at_once_acts_once(api: Api, atomic_calls: Counter[str]) -> None:
    card = api.issue(100)
    key = uuid.uuid4().hex

    answers = all_at_once([lambda: api.reserve(card, 10, key=key) for _ in range(CONCURRENCY)])

    assert {a.status for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    assert api.spendable(card) == 90
    api.assert_invariants()
