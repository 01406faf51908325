"""Idempotency of issue, activate and deactivate (contract: "Idempotency"): the first completed
answer for (endpoint, key) is replayed byte for byte whatever the parameters; business errors are
stored, validation errors are not; keys are per endpoint and kept 30 days."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tests.support.calls import CapturedLogs, card_number, invoke, issue_card, load_stock

pytestmark = pytest.mark.usefixtures("ledger_checked")

DAY = 86400
MISMATCH = "idempotency key reused with different parameters"


def issue(services: Any, value: Any = 50, key: str | None = None, **fields: Any) -> Any:
    body: dict[str, Any] = {
        "amount": {"value": Decimal(str(value)), "currency": "USD"},
        "customer": {"id": "c-9", "email": "jay@example.com"},
        **fields,
    }
    if key is not None:
        body["idempotence_key"] = key
    return invoke("issue", body, services=services)


def activate(services: Any, number: str, value: Any = 20, key: str | None = None) -> Any:
    body: dict[str, Any] = {
        "card_number": number,
        "amount": {"value": Decimal(str(value)), "currency": "USD"},
    }
    if key is not None:
        body["idempotence_key"] = key
    return invoke("activate", body, services=services)


def deactivate(services: Any, number: str, key: str | None = None, **fields: Any) -> Any:
    body: dict[str, Any] = {"card_number": number, **fields}
    if key is not None:
        body["idempotence_key"] = key
    return invoke("deactivate", body, services=services)


def balance(services: Any, number: str, pin: str | None = None) -> Any:
    identifier = {"number": number, **({"pin": pin} if pin else {})}
    return invoke("balance", {"identifier": identifier}, services=services)


def cards(repository: Any) -> list[dict[str, Any]]:
    return [item for item in repository.scan_all() if item.get("type") == "card"]


def entries(repository: Any) -> list[Any]:
    return [e for card in cards(repository) for e in repository.ledger(card["PK"][5:])]


@pytest.fixture
def stock(services: Any) -> str:
    """One inactive printed card without PIN."""
    number = card_number(6001)
    load_stock([(number, None)])
    return number


# Replays: same key, same answer, nothing happens twice ----------------------------------------


def test_issue_replay_answers_the_same_card_and_issues_nothing(
    services: Any, repository: Any
) -> None:
    first = issue(services, key="5kl5345b2hjj5k79")
    again = [issue(services, key="5kl5345b2hjj5k79") for _ in range(3)]
    assert first.status == 200
    assert {(a.status, a.body) for a in again} == {(first.status, first.body)}
    assert len(cards(repository)) == 1
    assert len(entries(repository)) == 1
    identifier = first.json["identifier"]
    assert balance(services, identifier["number"], identifier["pin"]).json["value"] == 50


def test_activate_replay_answers_200_again_and_funds_once(
    services: Any, repository: Any, stock: str
) -> None:
    first = activate(services, stock, 20, key="act-1")
    again = activate(services, stock, 20, key="act-1")
    assert (
        (again.status, again.body)
        == (first.status, first.body)
        == (
            200,
            '{"identifier": {"number": "' + stock + '"}}',
        )
    )
    assert len(entries(repository)) == 1
    assert balance(services, stock).json == {"value": 20, "currency": "USD"}


def test_deactivate_replay_answers_the_same_time_and_voids_once(
    services: Any, repository: Any, clock: Any
) -> None:
    number, _pin = issue_card(services=services)
    first = deactivate(services, number, key="deact-1")
    clock.advance(600)
    again = deactivate(services, number, key="deact-1")
    assert (again.status, again.body) == (first.status, first.body)
    assert sorted(e.kind for e in entries(repository)) == ["deactivate_void", "issue"]


def test_replay_with_the_same_parameters_logs_no_warning(services: Any) -> None:
    issue(services, key="same-params")
    with CapturedLogs() as logs:
        issue(services, key="same-params")
    assert not any(MISMATCH in message for message in logs.messages())


# Replays with changed parameters -----------------------------------------------------------------


def test_issue_replay_with_changed_parameters_answers_the_stored_body_and_warns(
    services: Any, repository: Any
) -> None:
    first = issue(services, 50, key="k-changed")
    with CapturedLogs() as logs:
        changed = issue(services, 70, key="k-changed", metadata={"store_id": "other"})
    assert (changed.status, changed.body) == (first.status, first.body)
    assert len(cards(repository)) == 1
    warnings = [r for r in logs.at("WARNING") if MISMATCH in str(r.get("message"))]
    assert len(warnings) == 1
    assert warnings[0]["webhook"] == "issue"


def test_activate_replay_with_changed_amount_answers_the_stored_body_and_warns(
    services: Any, repository: Any, stock: str
) -> None:
    first = activate(services, stock, 20, key="k-act")
    with CapturedLogs() as logs:
        changed = activate(services, stock, 99, key="k-act")
    assert (changed.status, changed.body) == (first.status, first.body)
    assert balance(services, stock).json["value"] == 20
    assert any(MISMATCH in message for message in logs.messages("WARNING"))


def test_deactivate_replay_with_changed_parameters_answers_the_stored_body_and_warns(
    services: Any,
) -> None:
    number, _pin = issue_card(services=services)
    other, other_pin = issue_card(services=services)
    first = deactivate(services, number, key="k-deact", store_id="a")
    with CapturedLogs() as logs:
        changed = deactivate(services, other, key="k-deact", store_id="b")
    assert (changed.status, changed.body) == (first.status, first.body)
    assert any(MISMATCH in message for message in logs.messages("WARNING"))
    # The other card was not deactivated by the replayed request
    assert balance(services, other, other_pin).status == 200


def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    """Sum of each metric in the CloudWatch embedded-metric lines printed since the last call."""
    totals: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = record[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals


def test_a_key_reused_with_other_parameters_is_counted_and_a_plain_replay_is_not(
    services: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an issued card under a key
    issue(services, 50, key="k-metric")
    emitted_metrics(capsys)
    # When the same request is retried: a replay, not a reused key
    issue(services, 50, key="k-metric")
    plain = emitted_metrics(capsys)
    assert plain.get("IdempotentReplays") == 1
    assert "IdempotencyKeyReused" not in plain
    # When the key comes back with another amount: counted once (the stack alarms on it)
    issue(services, 70, key="k-metric")
    reused = emitted_metrics(capsys)
    assert reused.get("IdempotencyKeyReused") == 1
    assert reused.get("IdempotentReplays") == 1


# Business errors are stored; validation errors are not -------------------------------------------


def test_card_not_found_is_replayed_even_after_the_card_appears(
    services: Any, repository: Any
) -> None:
    number = card_number(6100)
    # Given an activation of an unknown number answered card_not_found under key K
    first = activate(services, number, key="K")
    assert (first.status, first.error_code) == (400, "card_not_found")
    # When the card is imported and the same request is retried with K
    load_stock([(number, None)])
    again = activate(services, number, key="K")
    # Then the stored answer is replayed and nothing was activated
    assert (again.status, again.body) == (first.status, first.body)
    assert entries(repository) == []
    # While a new key activates it
    assert activate(services, number, key="K2").status == 200


def test_card_already_active_is_replayed_after_the_card_is_deactivated(
    services: Any, stock: str
) -> None:
    assert activate(services, stock, key="A1").status == 200
    refused = activate(services, stock, key="A2")
    assert refused.error_code == "card_already_active"
    assert deactivate(services, stock).status == 200
    again = activate(services, stock, key="A2")
    assert (again.status, again.body) == (refused.status, refused.body)


def test_invalid_card_on_deactivate_is_replayed_even_after_the_card_appears(
    services: Any,
) -> None:
    number = card_number(6200)
    first = deactivate(services, number, key="D")
    assert first.error_code == "invalid_card"
    load_stock([(number, None)])
    again = deactivate(services, number, key="D")
    assert (again.status, again.body) == (first.status, first.body)
    assert deactivate(services, number, key="D2").status == 200


@pytest.mark.parametrize(
    "bad_fields",
    [
        pytest.param({"amount": {"value": "50", "currency": "USD"}}, id="string-amount"),
        pytest.param({"amount": {"value": Decimal("50.001"), "currency": "USD"}}, id="decimals"),
        pytest.param({"customer": None}, id="missing-customer"),
    ],
)
def test_validation_error_is_not_stored_so_a_fixed_retry_succeeds(
    services: Any, repository: Any, bad_fields: dict[str, Any]
) -> None:
    good = {"amount": {"value": 50, "currency": "USD"}, "customer": {}, "idempotence_key": "V"}
    bad = {**good, **bad_fields}
    refused = invoke("issue", {k: v for k, v in bad.items() if v is not None}, services=services)
    assert (refused.status, refused.error_code) == (400, "invalid_request")
    fixed = invoke("issue", good, services=services)
    assert fixed.status == 200
    assert len(cards(repository)) == 1


def test_amount_out_of_range_is_not_stored_so_a_fixed_retry_succeeds(
    services: Any, stock: str
) -> None:
    refused = activate(services, stock, "10000.01", key="R")
    assert refused.error_code == "amount_out_of_range"
    assert activate(services, stock, 100, key="R").status == 200


def test_invalid_deactivation_request_is_not_stored(services: Any) -> None:
    number, _pin = issue_card(services=services)
    refused = deactivate(services, number, key="DV", pin=1234)
    assert refused.error_code == "invalid_request"
    assert deactivate(services, number, key="DV").status == 200


# Scope, keyless calls, expiry ---------------------------------------------------------------------


def test_keys_are_scoped_per_endpoint(services: Any, repository: Any, stock: str) -> None:
    issued = issue(services, key="shared-key")
    activated = activate(services, stock, key="shared-key")
    deactivated = deactivate(services, stock, key="shared-key")
    assert issued.status == activated.status == deactivated.status == 200
    assert activated.body == '{"identifier": {"number": "' + stock + '"}}'
    assert "deactivated_at" in deactivated.json
    assert len(cards(repository)) == 2


def test_calls_without_key_simply_execute(services: Any, repository: Any, stock: str) -> None:
    first, second = issue(services), issue(services)
    assert first.json["identifier"]["number"] != second.json["identifier"]["number"]
    assert len(cards(repository)) == 3  # two issued + the stock card
    assert activate(services, stock).status == 200
    assert activate(services, stock).error_code == "card_already_active"
    assert len(entries(repository)) == 3


def test_issue_key_expires_after_the_retention_period(
    services: Any, repository: Any, clock: Any
) -> None:
    first = issue(services, key="old-key")
    clock.advance(29 * DAY)
    assert issue(services, key="old-key").body == first.body
    clock.advance(DAY + 1)
    later = issue(services, key="old-key")
    assert later.status == 200
    assert later.json["identifier"]["number"] != first.json["identifier"]["number"]
    assert len(cards(repository)) == 2


def test_activate_key_executes_again_after_it_expired(
    services: Any, clock: Any, stock: str
) -> None:
    assert activate(services, stock, key="old-act").status == 200
    clock.advance(30 * DAY + 1)
    again = activate(services, stock, key="old-act")
    assert (again.status, again.error_code) == (400, "card_already_active")


@pytest.mark.parametrize("env", [{"IDEMPOTENCY_RETENTION_DAYS": "45"}])
def test_retention_is_configurable(services: Any, clock: Any) -> None:
    first = issue(services, key="long-key")
    clock.advance(44 * DAY)
    assert issue(services, key="long-key").body == first.body
    clock.advance(DAY + 1)
    assert issue(services, key="long-key").body != first.body
