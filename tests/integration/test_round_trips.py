"""DynamoDB round trips per request (design: "One round trip per request"), counted with a
botocore before-call hook on the service's own client. Exact numbers: more calls mean more
latency and cost on every request."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.calls import (
    DynamoCalls,
    card_number,
    invoke,
    issue_card,
    load_stock,
    with_bad_check_digit,
)

pytestmark = pytest.mark.usefixtures("ledger_checked")

ISSUE = {"amount": {"value": 50, "currency": "USD"}, "customer": {}}


def count(name: str, body: Any, services: Any) -> list[str]:
    with DynamoCalls() as calls:
        answer = invoke(name, body, services=services)
    assert answer.status in (200, 400), answer.body
    return calls.operations


def test_balance_with_the_right_pin_charges_the_guess_then_resets_it(services: Any) -> None:
    # The guess is counted (and the card read) before the PIN is compared; a right PIN resets
    number, pin = issue_card(services=services)
    body = {"identifier": {"number": number, "pin": pin}}
    assert count("balance", body, services) == ["UpdateItem", "UpdateItem"]


def test_balance_with_wrong_pin_is_one_counted_guess(services: Any) -> None:
    number, pin = issue_card(services=services)
    wrong = "0000" if pin != "0000" else "1111"
    body = {"identifier": {"number": number, "pin": wrong}}
    assert count("balance", body, services) == ["UpdateItem"]


def test_right_pin_after_failures_costs_what_a_right_pin_costs(services: Any) -> None:
    number, pin = issue_card(services=services)
    wrong = "0000" if pin != "0000" else "1111"
    invoke("balance", {"identifier": {"number": number, "pin": wrong}}, services=services)
    body = {"identifier": {"number": number, "pin": pin}}
    assert count("balance", body, services) == ["UpdateItem", "UpdateItem"]
    assert count("balance", body, services) == ["UpdateItem", "UpdateItem"]


def test_balance_of_a_card_without_pin_is_one_get(services: Any) -> None:
    number = card_number(2202)
    load_stock([(number, None)])
    invoke(
        "activate",
        {"card_number": number, "amount": {"value": 5, "currency": "USD"}},
        services=services,
    )
    assert count("balance", {"identifier": {"number": number}}, services) == ["GetItem"]


def test_balance_of_an_unknown_or_implausible_number(services: Any) -> None:
    # An unknown number costs what a wrong PIN costs: one call, with or without a PIN sent
    assert count("balance", {"identifier": {"number": card_number(1)}}, services) == ["GetItem"]
    with_pin = {"identifier": {"number": card_number(1), "pin": "1234"}}
    assert count("balance", with_pin, services) == ["UpdateItem"]
    # Numbers that cannot be cards (too short, failing Luhn) are refused without a lookup
    assert count("balance", {"identifier": {"number": "12"}}, services) == []
    bad_luhn = with_bad_check_digit(card_number(1))
    assert count("balance", {"identifier": {"number": bad_luhn}}, services) == []


def test_issue_is_one_transaction_and_its_replay_too(services: Any) -> None:
    body = {**ISSUE, "idempotence_key": "rt-issue"}
    assert count("issue", body, services) == ["TransactWriteItems"]
    assert count("issue", body, services) == ["TransactWriteItems"]
    assert count("issue", ISSUE, services) == ["TransactWriteItems"]


def test_activate_is_one_transaction_and_its_replay_too(services: Any) -> None:
    number = card_number(2201)
    load_stock([(number, "2201")])
    body = {
        "card_number": number,
        "amount": {"value": 5, "currency": "USD"},
        "idempotence_key": "rt-act",
    }
    assert count("activate", body, services) == ["TransactWriteItems"]
    assert count("activate", body, services) == ["TransactWriteItems"]


def test_activate_refusal_is_stored_in_two_calls(services: Any) -> None:
    # The failed transaction returns the stored card; storing the refusal is the second write.
    number, _pin = issue_card(services=services)
    body = {
        "card_number": number,
        "amount": {"value": 5, "currency": "USD"},
        "idempotence_key": "x",
    }
    assert count("activate", body, services) == ["TransactWriteItems", "TransactWriteItems"]
    assert count("activate", body, services) == ["TransactWriteItems"]


def test_deactivate_reads_once_then_writes_once_and_its_replay_only_reads(
    services: Any,
) -> None:
    number, _pin = issue_card(services=services)
    body = {"card_number": number, "idempotence_key": "rt-deact"}
    assert count("deactivate", body, services) == ["BatchGetItem", "TransactWriteItems"]
    assert count("deactivate", body, services) == ["BatchGetItem"]


def test_deactivating_a_deactivated_card_without_key_only_reads(services: Any) -> None:
    number, _pin = issue_card(services=services)
    invoke("deactivate", {"card_number": number}, services=services)
    assert count("deactivate", {"card_number": number}, services) == ["BatchGetItem"]


def test_invalid_request_never_reaches_the_table(services: Any) -> None:
    assert count("issue", {"amount": {"value": "5", "currency": "USD"}}, services) == []
    assert count("activate", {"card_number": card_number(3)}, services) == []
    assert count("deactivate", {"pin": "1234"}, services) == []
    assert count("balance", {"identifier": {}}, services) == []
