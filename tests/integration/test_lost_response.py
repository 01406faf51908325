"""Storage failures. The lost response: DynamoDB committed the transaction but the answer never
arrived (read timeout). The service's retry must meet its own idempotency record and replay, never
execute twice: one card, one ledger entry, and the answer is the committed one. Throttling that
outlasts the retries is 503 retry_error, an unexpected failure 500 internal_error; neither
commits anything."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.calls import (
    assert_ledger_consistent,
    card_number,
    invoke,
    issue_card,
    load_stock,
    lose_response_once,
)

pytestmark = pytest.mark.usefixtures("ledger_checked")

KEYS = [pytest.param("lost-1", id="with-key"), pytest.param(None, id="without-key")]


def with_key(body: dict[str, Any], key: str | None) -> dict[str, Any]:
    return body if key is None else {**body, "idempotence_key": key}


def cards(repository: Any) -> list[dict[str, Any]]:
    return [item for item in repository.scan_all() if item.get("type") == "card"]


def entries(repository: Any) -> list[Any]:
    return [e for card in cards(repository) for e in repository.ledger(card["PK"][5:])]


@pytest.mark.parametrize("key", KEYS)
def test_issue_after_a_lost_response_issues_one_card(
    services: Any, repository: Any, key: str | None
) -> None:
    body = with_key({"amount": {"value": 50, "currency": "USD"}, "customer": {}}, key)
    # When the issue transaction commits but its response is lost
    with lose_response_once() as lost:
        answer = invoke("issue", body, services=services)
    # Then the caller still gets 200, and exactly one card and one ledger entry exist
    assert lost.fired == 1
    assert answer.status == 200
    assert len(cards(repository)) == 1
    assert len(entries(repository)) == 1
    # And the answered number and PIN are the committed card's
    identifier = answer.json["identifier"]
    funded = invoke("balance", {"identifier": identifier}, services=services)
    assert (funded.status, funded.body) == (200, '{"value": 50, "currency": "USD"}')
    if key is not None:
        assert invoke("issue", body, services=services).body == answer.body
    assert_ledger_consistent(repository)


@pytest.mark.parametrize("key", KEYS)
def test_activate_after_a_lost_response_funds_once_and_answers_200(
    services: Any, repository: Any, key: str | None
) -> None:
    number = card_number(3101)
    load_stock([(number, None)])
    body = with_key({"card_number": number, "amount": {"value": 20, "currency": "EUR"}}, key)
    with lose_response_once() as lost:
        answer = invoke("activate", body, services=services)
    assert lost.fired == 1
    assert (answer.status, answer.body) == (200, '{"identifier": {"number": "' + number + '"}}')
    assert [e.amount for e in entries(repository)] == [2000]
    funded = invoke("balance", {"identifier": {"number": number}}, services=services)
    assert funded.json == {"value": 20, "currency": "EUR"}
    if key is not None:
        assert invoke("activate", body, services=services).body == answer.body
    assert_ledger_consistent(repository)


@pytest.mark.parametrize("key", KEYS)
def test_deactivate_after_a_lost_response_voids_once(
    services: Any, repository: Any, clock: Any, key: str | None
) -> None:
    number, pin = issue_card(40, services=services)
    clock.advance(60)
    body = with_key({"card_number": number}, key)
    with lose_response_once() as lost:
        answer = invoke("deactivate", body, services=services)
    assert lost.fired == 1
    assert (answer.status, answer.body) == (200, '{"deactivated_at": "2027-01-15T08:01:00Z"}')
    assert [(e.kind, e.amount) for e in entries(repository)] == [
        ("issue", 4000),
        ("deactivate_void", -4000),
    ]
    refused = invoke("balance", {"identifier": {"number": number, "pin": pin}}, services=services)
    assert refused.error_code == "card_deactivated"
    assert_ledger_consistent(repository)


def test_stored_business_error_after_a_lost_response_is_replayed(
    services: Any, repository: Any
) -> None:
    number = card_number(3102)
    body = {
        "card_number": number,
        "amount": {"value": 5, "currency": "EUR"},
        "idempotence_key": "E",
    }
    with lose_response_once() as lost:
        answer = invoke("activate", body, services=services)
    assert lost.fired == 1
    assert (answer.status, answer.error_code) == (400, "card_not_found")
    load_stock([(number, None)])
    assert invoke("activate", body, services=services).body == answer.body


def fail_every(operation: str, error: Exception) -> Any:
    """Make every ``operation`` call fail before it reaches the table (undo: unregister)."""
    from giftcard import aws

    def hook(**_: Any) -> None:
        raise error

    aws.client("dynamodb").meta.events.register(f"before-call.dynamodb.{operation}", hook)
    return hook


def throttled() -> Exception:
    from botocore.exceptions import ClientError

    error: Any = {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
    return ClientError({"Error": error}, "TransactWriteItems")


@pytest.mark.parametrize("env", [{"STORAGE_MAX_ATTEMPTS": "3"}])
def test_throttling_that_outlasts_the_retries_is_retry_error_and_commits_nothing(
    services: Any, repository: Any
) -> None:
    body = {"amount": {"value": 5, "currency": "USD"}, "customer": {}, "idempotence_key": "T"}
    fail_every("TransactWriteItems", throttled())
    answer = invoke("issue", body, services=services)
    assert (answer.status, answer.error_code) == (503, "retry_error")
    assert list(repository.scan_all()) == []


@pytest.mark.parametrize("env", [{"STORAGE_MAX_ATTEMPTS": "3"}])
def test_retry_error_is_not_stored_so_the_same_key_succeeds_later(
    services: Any, repository: Any
) -> None:
    from giftcard import aws

    body = {"amount": {"value": 5, "currency": "USD"}, "customer": {}, "idempotence_key": "T2"}
    events = aws.client("dynamodb").meta.events
    hook = fail_every("TransactWriteItems", throttled())
    assert invoke("issue", body, services=services).status == 503
    events.unregister("before-call.dynamodb.TransactWriteItems", hook)
    assert invoke("issue", body, services=services).status == 200
    assert len(cards(repository)) == 1


def test_throttled_balance_read_is_retried(services: Any) -> None:
    from giftcard import aws

    number, pin = issue_card(9, services=services)
    failures = iter([throttled(), throttled()])

    def hook(**_: Any) -> None:
        error = next(failures, None)
        if error is not None:
            raise error

    aws.client("dynamodb").meta.events.register("before-call.dynamodb.GetItem", hook)
    answer = invoke("balance", {"identifier": {"number": number, "pin": pin}}, services=services)
    assert (answer.status, answer.body) == (200, '{"value": 9, "currency": "USD"}')


def test_unexpected_failure_is_internal_error_and_commits_nothing(
    services: Any, repository: Any
) -> None:
    fail_every("TransactWriteItems", RuntimeError("boom"))
    answer = invoke(
        "issue", {"amount": {"value": 5, "currency": "USD"}, "customer": {}}, services=services
    )
    assert (answer.status, answer.error_code) == (500, "internal_error")
    assert "boom" not in answer.body
    assert list(repository.scan_all()) == []


@pytest.mark.parametrize("env", [{"KEYS_SECRET_ID": "giftcards/missing"}])
def test_unreadable_key_material_is_retry_error(services: Any) -> None:
    answer = invoke("balance", {"identifier": {"number": card_number(5)}}, services=services)
    assert (answer.status, answer.error_code) == (503, "retry_error")
