"""POST /gift_card/deactivate through lambda_handler: terminal, voids the remainder into the
ledger, naturally idempotent, PIN optional but checked when sent."""

from __future__ import annotations

import re
from typing import Any

import pytest

from giftcard.errors import InvalidCard, reply_for
from tests.support.calls import (
    card_number,
    invoke,
    issue_card,
    load_stock,
    with_bad_check_digit,
)

pytestmark = pytest.mark.usefixtures("ledger_checked")

INVALID_CARD = reply_for(InvalidCard()).body
#: The fixed clock's start (tests/conftest.py START) as the API writes it.
START_ISO = "2027-01-15T08:00:00Z"


def deactivate(services: Any, number: str, **fields: Any) -> Any:
    return invoke("deactivate", {"card_number": number, **fields}, services=services)


def balance(services: Any, number: str, pin: str | None = None) -> Any:
    identifier = {"number": number, **({"pin": pin} if pin else {})}
    return invoke("balance", {"identifier": identifier}, services=services)


def card_item(repository: Any) -> dict[str, Any]:
    [card] = [item for item in repository.scan_all() if item.get("type") == "card"]
    return card


def wrong(pin: str) -> str:
    return str((int(pin) + 1) % 10 ** len(pin)).zfill(len(pin))


def test_deactivation_answers_the_time_and_voids_the_remainder(
    services: Any, repository: Any, clock: Any
) -> None:
    # Given a card issued an hour ago, holding 30.25 USD
    number, pin = issue_card("30.25", services=services)
    clock.advance(3600)
    # When it is deactivated
    answer = deactivate(
        services,
        number,
        pin=pin,
        store_id="store-berlin-1",
        idempotence_key="6234h6k263bb589v0bnv3",
    )
    # Then the body is exactly the UTC time to the second
    assert (answer.status, answer.body) == (200, '{"deactivated_at": "2027-01-15T09:00:00Z"}')
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", answer.json["deactivated_at"])
    # And the remainder is voided in the ledger: amount, balance before and after
    card = card_item(repository)
    issue, void = repository.ledger(card["PK"].removeprefix("CARD#"))
    assert issue.kind == "issue"
    assert (void.kind, void.amount, void.balance_before, void.balance_after) == (
        "deactivate_void",
        -3025,
        3025,
        0,
    )
    assert void.store_id == "store-berlin-1"
    # And the card answers card_deactivated from now on
    assert balance(services, number, pin).error_code == "card_deactivated"


def test_time_is_utc_to_the_second(services: Any, clock: Any) -> None:
    number, _pin = issue_card(services=services)
    clock.advance(3661.75)
    answer = deactivate(services, number)
    assert answer.json == {"deactivated_at": "2027-01-15T09:01:01Z"}


def test_deactivating_again_answers_the_original_time_and_changes_nothing(
    services: Any, repository: Any, clock: Any
) -> None:
    # Given a deactivated card
    number, pin = issue_card(10, services=services)
    first = deactivate(services, number)
    card_before = card_item(repository)
    entries_before = repository.ledger(card_before["PK"].removeprefix("CARD#"))
    # When it is deactivated again an hour later, with and without keys, with its PIN
    clock.advance(3600)
    answers = [
        deactivate(services, number),
        deactivate(services, number, idempotence_key="another-key"),
        deactivate(services, number, pin=pin),
    ]
    # Then every answer is 200 with the original time
    assert {(a.status, a.body) for a in answers} == {(200, first.body)}
    # And neither the card nor its ledger changed
    assert card_item(repository) == card_before
    assert repository.ledger(card_before["PK"].removeprefix("CARD#")) == entries_before


def test_inactive_stock_card_can_be_deactivated(services: Any, repository: Any) -> None:
    # Given printed stock never activated (lost in the shop)
    number = card_number(8801)
    load_stock([(number, "8801")])
    # When it is deactivated, Then it is 200 and the card can no longer be activated
    answer = deactivate(services, number)
    assert (answer.status, answer.body) == (200, '{"deactivated_at": "' + START_ISO + '"}')
    activation = invoke(
        "activate",
        {"card_number": number, "amount": {"value": 5, "currency": "USD"}},
        services=services,
    )
    assert (activation.status, activation.error_code) == (400, "card_deactivated")
    assert balance(services, number, "8801").error_code == "card_deactivated"
    assert card_item(repository)["balance"] == 0


# PIN ----------------------------------------------------------------------------------------------


def test_pin_is_optional_for_the_retailer(services: Any) -> None:
    number, _pin = issue_card(services=services)
    assert deactivate(services, number).status == 200


def test_right_pin_deactivates(services: Any) -> None:
    number, pin = issue_card(services=services)
    assert deactivate(services, number, pin=pin).status == 200


def test_right_pin_after_earlier_failures_deactivates(services: Any) -> None:
    number, pin = issue_card(services=services)
    for _ in range(3):
        balance(services, number, wrong(pin))
    answer = deactivate(services, number, pin=pin)
    assert (answer.status, answer.body) == (200, '{"deactivated_at": "' + START_ISO + '"}')


def test_wrong_pin_is_invalid_card_and_the_card_stays_active(services: Any) -> None:
    number, pin = issue_card(15, services=services)
    answer = deactivate(services, number, pin=wrong(pin))
    assert (answer.status, answer.body) == (400, INVALID_CARD)
    assert balance(services, number, pin).json == {"value": 15, "currency": "USD"}


def test_locked_card_with_pin_sent_is_invalid_card_without_pin_deactivates(
    services: Any,
) -> None:
    # Given a card locked by wrong PINs
    number, pin = issue_card(services=services)
    for _ in range(5):
        balance(services, number, wrong(pin))
    # Then a deactivation sending even the right PIN is refused
    assert (deactivate(services, number, pin=pin).body) == INVALID_CARD
    # But the retailer can still deactivate it without the PIN (lost or stolen card)
    assert deactivate(services, number).status == 200


def test_pin_sent_for_a_card_without_pin_is_ignored(services: Any) -> None:
    number = card_number(8802)
    load_stock([(number, None)])
    assert deactivate(services, number, pin="1234").status == 200


@pytest.mark.parametrize("make_number", [lambda: card_number(999), lambda: "7777"])
def test_unknown_number_is_invalid_card(services: Any, make_number: Any) -> None:
    answer = deactivate(services, make_number())
    assert (answer.status, answer.body) == (400, INVALID_CARD)


def test_number_failing_luhn_is_invalid_card(services: Any) -> None:
    number, _pin = issue_card(services=services)
    answer = deactivate(services, with_bad_check_digit(number))
    assert (answer.status, answer.body) == (400, INVALID_CARD)
    assert balance(services, number, _pin).status == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing-card-number"),
        pytest.param({"card_number": None}, id="null-card-number"),
        pytest.param({"card_number": 7777000000000007}, id="card-number-as-number"),
        pytest.param({"card_number": card_number(1), "pin": 1234}, id="pin-as-number"),
        pytest.param({"card_number": card_number(1), "store_id": 5}, id="store-id-as-number"),
        pytest.param({"card_number": card_number(1), "idempotence_key": ""}, id="empty-key"),
    ],
)
def test_malformed_deactivation_is_invalid_request(services: Any, body: Any) -> None:
    answer = invoke("deactivate", body, services=services)
    assert (answer.status, answer.error_code) == (400, "invalid_request")


def test_unknown_fields_are_ignored(services: Any) -> None:
    number, _pin = issue_card(services=services)
    answer = invoke(
        "deactivate",
        {"card_number": number, "reason": "stolen", "metadata": {"x": [1]}},
        services=services,
    )
    assert answer.status == 200


def test_key_id_of_the_api_key_reaches_the_void_entry(services: Any, repository: Any) -> None:
    number, _pin = issue_card(services=services)
    answer = invoke("deactivate", {"card_number": number}, services=services, key_id="key-ops")
    assert answer.status == 200
    card = card_item(repository)
    entries = repository.ledger(card["PK"].removeprefix("CARD#"))
    assert {(entry.kind, entry.key_id) for entry in entries} == {
        ("issue", "key-1"),
        ("deactivate_void", "key-ops"),
    }
