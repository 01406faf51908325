"""Faults injected with botocore event hooks on the service's own clients (in-process, moto).

- Throttling and ``TransactionConflict`` as many times as the retry budget allows
  (``STORAGE_MAX_ATTEMPTS``, the real default) -> bounded retries, then ``503 retry_error`` and no
  effect at all (no card, no ledger entry, no idempotency record), so a retry with the same key
  then succeeds. One failure fewer -> exactly one effect.
- A response lost after the transaction committed -> the retry replays, nothing happens twice.
- One wrong PIN is one guess, however many storage retries the request needs.
- Secrets Manager failing on a cold start -> ``503`` (never a 500, nothing written); the
  authorizer fails with an error that is not ``Unauthorized`` (API Gateway answers 503, not 401).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from giftcard import http
from giftcard.aws import client as aws_client
from giftcard.clock import FixedClock
from giftcard.repository import Repository
from giftcard.settings import get_settings
from tests.reliability.faults import CONFLICT, LOST, THROTTLE, FaultPlan, injected
from tests.support.aws import API_KEY
from tests.support.calls import (
    Answer,
    card_number,
    handler,
    invoke,
    issue_card,
    load_stock,
)
from tests.support.events import LambdaContext, authorizer_event

START = 1_800_000_000
STOCK = card_number(424242, prefix="6000")


@pytest.fixture
def services(aws: None) -> http.Services:
    """The handlers' services on the default table: fixed clock, retries without sleeping."""
    settings = get_settings()
    return http.Services(
        settings,
        Repository(settings.table_name),
        clock=FixedClock(START),
        sleep=lambda _seconds: None,
    )


@pytest.fixture
def budget(services: http.Services) -> int:
    return services.settings.storage_max_attempts


@pytest.fixture
def transactions(services: http.Services) -> Iterator[FaultPlan]:
    with injected(aws_client("dynamodb"), FaultPlan("TransactWriteItems")) as plan:
        yield plan


def table(services: http.Services) -> dict[str, list[dict[str, Any]]]:
    """Every item, by type (card, entry, record)."""
    found: dict[str, list[dict[str, Any]]] = {"card": [], "entry": [], "record": []}
    for item in services.repository.scan_all():
        found.setdefault(str(item["type"]), []).append(item)
    return found


def counts(services: http.Services) -> tuple[int, int, int]:
    items = table(services)
    return len(items["card"]), len(items["entry"]), len(items["record"])


@dataclass(frozen=True)
class Cards:
    """A stock card to activate, an active issued card (number, PIN), the table's counts."""

    number: str = field(repr=False)
    pin: str = field(repr=False)
    instrument_id: str
    counts: tuple[int, int, int]


@pytest.fixture
def cards(services: http.Services) -> Cards:
    """Printed stock to activate; an issued card holding 100 with a reservation of 30 on it."""
    load_stock([(STOCK, None)])
    number, pin = issue_card(100, "USD", services=services)
    reserved = invoke(
        "instrument_create",
        {
            "idempotency_key": "setup",
            "instrument": {"number": number, "pin": pin},
            "amount": 30,
            "currency": "USD",
        },
        services=services,
    )
    assert reserved.status == 200
    return Cards(number, pin, reserved.json["identifier"], counts(services))


def request_for(name: str, key: str, cards: Cards) -> dict[str, Any]:
    """A valid mutation of each kind (activate: the stock card; deactivate: the issued card)."""
    if name == "issue":
        body: dict[str, Any] = {
            "amount": {"value": 25, "currency": "EUR"},
            "customer": {"email": "jay@example.com"},
        }
    elif name == "activate":
        body = {"card_number": STOCK, "amount": {"value": 30, "currency": "USD"}}
    elif name == "deactivate":
        body = {"card_number": cards.number, "store_id": "store-1"}
    elif name == "instrument_create":
        return {
            "idempotency_key": key,
            "instrument": {"number": cards.number, "pin": cards.pin},
            "amount": 10,
            "currency": "USD",
        }
    else:  # capture
        return {
            "idempotency_key": key,
            "instrument_id": cards.instrument_id,
            "amount": 10,
            "currency": "USD",
        }
    return {**body, "idempotence_key": key}


MUTATIONS = ["issue", "activate", "deactivate", "instrument_create", "instrument_capture"]


def _effect(before: tuple[int, int, int], after: tuple[int, int, int]) -> tuple[int, ...]:
    return tuple(b - a for a, b in zip(before, after, strict=True))


#: What one successful mutation adds: (cards, ledger entries, idempotency records).
ONE_EFFECT = {
    "issue": (1, 1, 1),
    "activate": (0, 1, 1),
    "deactivate": (0, 1, 1),
    "instrument_create": (0, 1, 1),
    "instrument_capture": (0, 1, 1),
}


@pytest.mark.parametrize("kind", [CONFLICT, THROTTLE])
@pytest.mark.parametrize("name", MUTATIONS)
def test_exhausted_retries_answer_503_and_change_nothing(
    services: http.Services,
    cards: Cards,
    transactions: FaultPlan,
    budget: int,
    name: str,
    kind: str,
) -> None:
    # Given every transaction attempt of the request is cancelled (conflict) or throttled
    body = request_for(name, f"{name}-{kind}-exhausted", cards)
    before = table(services)
    transactions.arm(kind, budget)
    # When the request is sent
    answer = invoke(name, body, services=services)
    transactions.disarm()
    # Then it gave up after the bounded number of attempts with 503 retry_error...
    assert (answer.status, answer.error_code) == (503, "retry_error")
    assert transactions.calls == budget
    # ... and the table is exactly as before: no card, no ledger entry, no idempotency record
    assert table(services) == before
    # And the same request with the same key, once storage recovers, takes effect once
    retried = invoke(name, body, services=services)
    assert retried.status == 200
    assert _effect(cards.counts, counts(services)) == ONE_EFFECT[name]


@pytest.mark.parametrize("kind", [CONFLICT, THROTTLE])
@pytest.mark.parametrize("name", MUTATIONS)
def test_fewer_failures_than_the_budget_take_effect_once(
    services: http.Services,
    cards: Cards,
    transactions: FaultPlan,
    budget: int,
    name: str,
    kind: str,
) -> None:
    # Given all but the last allowed attempt fail
    body = request_for(name, f"{name}-{kind}-recovers", cards)
    transactions.arm(kind, budget - 1)
    # When the request is sent
    answer = invoke(name, body, services=services)
    transactions.disarm()
    # Then it succeeds on the last attempt, with exactly one effect
    assert answer.status == 200
    assert transactions.calls == budget
    assert _effect(cards.counts, counts(services)) == ONE_EFFECT[name]
    # And a retry with the key replays the same bytes and changes nothing
    replayed = invoke(name, body, services=services)
    same = (replayed.status, replayed.body) == (answer.status, answer.body)
    assert same, "the replay differs from the first response"
    assert _effect(cards.counts, counts(services)) == ONE_EFFECT[name]


@pytest.mark.parametrize(
    ("name", "keyed"),
    [(name, True) for name in MUTATIONS] + [(name, False) for name in MUTATIONS[:3]],
)
def test_lost_response_after_commit_replays_instead_of_executing_twice(
    services: http.Services,
    cards: Cards,
    transactions: FaultPlan,
    name: str,
    keyed: bool,
) -> None:
    # Given the transaction commits but its response never arrives (read timeout)
    body = request_for(name, f"{name}-lost", cards)
    if not keyed:  # (the payment operations always carry a key)
        del body["idempotence_key"]
    transactions.arm(LOST, 1)
    # When the request is sent
    answer = invoke(name, body, services=services)
    transactions.disarm()
    # Then the service's own retry met its committed record and answered with it
    assert transactions.injected == 1 and transactions.committed == 1
    assert answer.status == 200
    assert _effect(cards.counts, counts(services)) == ONE_EFFECT[name]
    if name == "issue":
        # the card the caller was told about is the one that exists
        number = answer.json["identifier"]["number"]
        lookup = services.context("r", "k").keys.card_lookup(number)
        assert services.repository.get_card(lookup) is not None
    if keyed:
        replayed = invoke(name, body, services=services)
        same = (replayed.status, replayed.body) == (answer.status, answer.body)
        assert same, "the replay differs from the first response"
        assert _effect(cards.counts, counts(services)) == ONE_EFFECT[name]


def _counter(services: http.Services, number: str) -> tuple[int, bool]:
    """(PIN failures counted, locked) of a card."""
    lookup = services.context("r", "k").keys.card_lookup(number)
    card = services.repository.get_card(lookup)
    assert card is not None
    return card.pin_failures, card.locked(START)


def _wrong(pin: str) -> str:
    return "0000" if pin != "0000" else "1111"


def test_one_wrong_pin_counts_once_when_the_deactivation_is_retried(
    services: http.Services, cards: Cards, transactions: FaultPlan, budget: int
) -> None:
    # Given a deactivation with a wrong PIN whose stored refusal meets transaction conflicts
    transactions.arm(CONFLICT, budget - 1)
    body = {"card_number": cards.number, "pin": _wrong(cards.pin), "idempotence_key": "d"}
    # When it is sent once
    answer = invoke("deactivate", body, services=services)
    transactions.disarm()
    # Then it is refused, and counted as one wrong guess (contract: 5 consecutive wrong PINs lock)
    assert (answer.status, answer.error_code) == (400, "invalid_card")
    counted = _counter(services, cards.number)
    assert counted == (1, False), "one wrong PIN was counted as several guesses"


def test_one_wrong_pin_counts_once_when_the_counter_write_response_is_lost(
    services: http.Services, cards: Cards
) -> None:
    # Given the write that counts a wrong PIN commits but its response is lost
    body = {"identifier": {"number": cards.number, "pin": _wrong(cards.pin)}}
    with injected(aws_client("dynamodb"), FaultPlan("UpdateItem")) as counter:
        counter.arm(LOST, 1)
        answer = invoke("balance", body, services=services)
    # Then the guess is refused and counted once, not once per storage attempt
    assert counter.injected == 1
    assert (answer.status, answer.error_code) == (400, "invalid_card")
    counted = _counter(services, cards.number)
    assert counted == (1, False), "one wrong PIN was counted as several guesses"


@pytest.mark.parametrize("failures", ["budget", "budget-1"])
def test_throttled_reads_are_retried_within_the_budget(
    services: http.Services, cards: Cards, budget: int, failures: str
) -> None:
    # Given the balance read (with a PIN sent, the write that charges the guess and returns the
    # card) is throttled budget (or budget - 1) times
    times = budget if failures == "budget" else budget - 1
    body = {"identifier": {"number": cards.number, "pin": cards.pin}}
    with injected(aws_client("dynamodb"), FaultPlan("UpdateItem")) as reads:
        reads.arm(THROTTLE, times)
        answer = invoke("balance", body, services=services)
    # Then it answers 503 retry_error after the budget, or the balance on the last attempt
    if failures == "budget":
        assert (answer.status, answer.error_code) == (503, "retry_error")
    else:
        assert (answer.status, answer.body) == (
            200,
            '{"value": 70, "currency": "USD"}',
        )  # 100 - 30 held
    # (budget attempts; a right PIN then resets the window: one more UpdateItem)
    assert reads.calls == (budget if failures == "budget" else budget + 1)


# Secrets Manager on a cold start -----------------------------------------------------------------

SECRETS_MANAGER_FAILURES = {
    "throttled": lambda: ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetSecretValue"
    ),
    "internal-error": lambda: ClientError(
        {"Error": {"Code": "InternalServiceError", "Message": "oops"}}, "GetSecretValue"
    ),
    "unreachable": lambda: EndpointConnectionError(
        endpoint_url="https://secretsmanager.us-east-1.amazonaws.com/"
    ),
}


class SecretsManagerDown:
    """Simulates a cold start (every process cache empty) while GetSecretValue fails."""

    def __init__(self) -> None:
        self.error: Any = None
        self.calls = 0
        self._events: Any = None

    def _fail(self, **_: Any) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error()

    def cold_start(self, error: Any) -> None:
        self.stop()
        http.reset()  # a new Lambda instance: no cached secret, no clients
        self.error = error
        self._events = aws_client("secretsmanager").meta.events
        self._events.register(
            "before-call.secrets-manager.GetSecretValue", self._fail, unique_id="sm-down"
        )

    def stop(self) -> None:
        if self._events is not None:
            self._events.unregister(
                "before-call.secrets-manager.GetSecretValue", unique_id="sm-down"
            )
            self._events = None


@pytest.fixture
def secrets_manager(aws: None) -> Iterator[SecretsManagerDown]:
    down = SecretsManagerDown()
    try:
        yield down
    finally:
        down.stop()


MUTATION_BODIES = {
    "issue": {"amount": {"value": 5, "currency": "USD"}, "customer": {}, "idempotence_key": "s"},
    "activate": {
        "card_number": STOCK,
        "amount": {"value": 5, "currency": "USD"},
        "idempotence_key": "s",
    },
    "deactivate": {"card_number": STOCK, "idempotence_key": "s"},
    "balance": {"identifier": {"number": STOCK}},
}


@pytest.mark.parametrize("failure", sorted(SECRETS_MANAGER_FAILURES))
@pytest.mark.parametrize("name", sorted(MUTATION_BODIES))
def test_secrets_manager_down_on_a_cold_start_is_503_with_no_effect(
    secrets_manager: SecretsManagerDown, name: str, failure: str
) -> None:
    # Given printed stock, then a cold start while Secrets Manager fails
    load_stock([(STOCK, None)])
    secrets_manager.cold_start(SECRETS_MANAGER_FAILURES[failure])
    settings = get_settings()
    before = list(Repository(settings.table_name).scan_all())
    # When a webhook is called
    answer: Answer = invoke(name, MUTATION_BODIES[name])
    # Then it answers 503 retry_error (never a 500) and wrote nothing
    assert secrets_manager.calls >= 1
    assert (answer.status, answer.error_code) == (503, "retry_error")
    assert list(Repository(settings.table_name).scan_all()) == before
    # And once Secrets Manager is back, the same request (same key) works
    secrets_manager.error = None
    assert invoke(name, MUTATION_BODIES[name]).status in (200, 400)


@pytest.mark.parametrize("failure", sorted(SECRETS_MANAGER_FAILURES))
def test_authorizer_with_secrets_manager_down_fails_as_a_server_error_not_401(
    secrets_manager: SecretsManagerDown, failure: str
) -> None:
    # Given a cold authorizer while Secrets Manager fails
    secrets_manager.cold_start(SECRETS_MANAGER_FAILURES[failure])
    authorize = handler("authorizer")
    # When a request with the right key arrives
    with pytest.raises(Exception) as raised:
        authorize(authorizer_event({"Authorization": API_KEY}), LambdaContext())
    # Then the authorizer fails with something other than "Unauthorized": API Gateway answers
    # with its authorizer-failure response (503), so NewStore retries instead of giving up
    assert str(raised.value) != "Unauthorized"
    # And once Secrets Manager is back, the same key is allowed
    secrets_manager.error = None
    policy = authorize(authorizer_event({"Authorization": API_KEY}), LambdaContext())
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
