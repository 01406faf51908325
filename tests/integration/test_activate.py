"""POST /gift_card/activate through lambda_handler: printed stock is activated and funded once;
unknown, active and deactivated cards are refused; unknown numbers may be registered."""

from __future__ import annotations

from decimal import Decimal
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

CUSTOMER = {"id": "64810476", "email": "jay@example.com", "name": "Jay Doubleyou"}


def activate(
    services: Any, number: str, value: Any = 25, currency: str = "EUR", **fields: Any
) -> Any:
    if isinstance(value, str):
        value = Decimal(value)
    body = {"card_number": number, "amount": {"value": value, "currency": currency}, **fields}
    return invoke("activate", body, services=services)


def balance(services: Any, number: str, pin: str | None = None) -> Any:
    identifier = {"number": number, **({"pin": pin} if pin else {})}
    return invoke("balance", {"identifier": identifier}, services=services)


def ledger_of(repository: Any) -> list[Any]:
    cards = [item for item in repository.scan_all() if item.get("type") == "card"]
    return [entry for card in cards for entry in repository.ledger(card["PK"][5:])]


@pytest.fixture
def stock(services: Any) -> dict[str, str | None]:
    """Printed stock: one card with PIN 7301, one without PIN (inactive)."""
    cards = {card_number(7301): "7301", card_number(7302): None}
    load_stock(cards.items())
    return cards


def test_activation_answers_the_number_and_funds_the_card(
    services: Any, repository: Any, stock: dict[str, str | None]
) -> None:
    number = card_number(7301)
    # When a printed card is activated with 25 EUR
    answer = activate(
        services,
        number,
        25,
        "EUR",
        customer=CUSTOMER,
        metadata={"original_operation": "activation", "store_id": "store-berlin-1"},
        idempotence_key="6234h6k263bb589v0bnv3",
    )
    # Then the body is exactly the number, no PIN
    assert (answer.status, answer.body) == (200, '{"identifier": {"number": "' + number + '"}}')
    # And the card takes the activation's currency and amount
    funded = balance(services, number, "7301")
    assert (funded.status, funded.body) == (200, '{"value": 25, "currency": "EUR"}')
    # And exactly one ledger entry funds it
    [entry] = ledger_of(repository)
    assert (entry.kind, entry.amount, entry.currency) == ("activate", 2500, "EUR")
    assert (entry.balance_before, entry.balance_after) == (0, 2500)
    assert entry.store_id == "store-berlin-1"


def test_card_without_pin_is_activated_and_needs_no_pin(
    services: Any, stock: dict[str, str | None]
) -> None:
    number = card_number(7302)
    assert activate(services, number, "12.34", "USD").status == 200
    answer = balance(services, number)
    assert (answer.status, answer.body) == (200, '{"value": 12.34, "currency": "USD"}')


def test_number_typed_with_spaces_activates_the_card(
    services: Any, stock: dict[str, str | None]
) -> None:
    number = card_number(7302)
    typed = f" {number[:4]} {number[4:8]} {number[8:12]} {number[12:]} "
    answer = activate(services, typed)
    assert answer.status == 200
    assert answer.json == {"identifier": {"number": number}}


def test_customer_and_metadata_are_optional_and_unknown_fields_ignored(
    services: Any, stock: dict[str, str | None]
) -> None:
    body = {
        "card_number": card_number(7302),
        "amount": {"value": 5, "currency": "EUR", "note": "x"},
        "metadata": {"store_id": ["not", "a", "string"], "extra": {"a": 1}},
        "something_new": True,
    }
    assert invoke("activate", body, services=services).status == 200


def test_unknown_number_is_card_not_found(services: Any, repository: Any) -> None:
    answer = activate(services, card_number(404))
    assert (answer.status, answer.error_code) == (400, "card_not_found")
    assert list(repository.scan_all()) == []


def test_number_failing_luhn_is_card_not_found(services: Any, stock: dict[str, str | None]) -> None:
    answer = activate(services, with_bad_check_digit(card_number(7301)))
    assert (answer.status, answer.error_code) == (400, "card_not_found")


def test_active_card_is_card_already_active_and_keeps_its_money(
    services: Any, repository: Any, stock: dict[str, str | None]
) -> None:
    number = card_number(7302)
    assert activate(services, number, 25, idempotence_key="first").status == 200
    again = activate(services, number, 99, idempotence_key="second")
    assert (again.status, again.error_code) == (400, "card_already_active")
    without_key = activate(services, number, 99)
    assert (without_key.status, without_key.error_code) == (400, "card_already_active")
    assert balance(services, number).json == {"value": 25, "currency": "EUR"}
    assert len(ledger_of(repository)) == 1


def test_issued_card_is_card_already_active(services: Any) -> None:
    number, _pin = issue_card(services=services)
    answer = activate(services, number)
    assert (answer.status, answer.error_code) == (400, "card_already_active")


def test_deactivated_card_is_card_deactivated(
    services: Any, repository: Any, stock: dict[str, str | None]
) -> None:
    number = card_number(7301)
    assert invoke("deactivate", {"card_number": number}, services=services).status == 200
    answer = activate(services, number)
    assert (answer.status, answer.error_code) == (400, "card_deactivated")
    assert all(entry.kind != "activate" for entry in ledger_of(repository))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"amount": {"value": 5, "currency": "EUR"}}, id="missing-card-number"),
        pytest.param({"card_number": card_number(7302)}, id="missing-amount"),
        pytest.param(
            {"card_number": int(card_number(7302)), "amount": {"value": 5, "currency": "EUR"}},
            id="card-number-as-number",
        ),
        pytest.param(
            {"card_number": card_number(7302), "amount": {"value": "5", "currency": "EUR"}},
            id="value-as-string",
        ),
        pytest.param(
            {"card_number": card_number(7302), "amount": {"value": -5, "currency": "EUR"}},
            id="negative",
        ),
        pytest.param(
            {"card_number": card_number(7302), "amount": {"value": 5, "currency": "EUX"}},
            id="unknown-currency",
        ),
        pytest.param(
            {
                "card_number": card_number(7302),
                "amount": {"value": Decimal("10.005"), "currency": "EUR"},
            },
            id="three-decimals",
        ),
        pytest.param(
            {
                "card_number": card_number(7302),
                "amount": {"value": Decimal("1.5"), "currency": "JPY"},
            },
            id="decimals-JPY",
        ),
        pytest.param(
            {
                "card_number": card_number(7302),
                "amount": {"value": 5, "currency": "EUR"},
                "customer": 1,
            },
            id="customer-not-object",
        ),
    ],
)
def test_malformed_activation_is_invalid_request_and_changes_nothing(
    services: Any, repository: Any, stock: dict[str, str | None], body: Any
) -> None:
    answer = invoke("activate", body, services=services)
    assert (answer.status, answer.error_code) == (400, "invalid_request")
    assert ledger_of(repository) == []


def test_activation_over_the_maximum_is_amount_out_of_range(
    services: Any, repository: Any, stock: dict[str, str | None]
) -> None:
    answer = activate(services, card_number(7302), "10000.01", "EUR")
    assert (answer.status, answer.error_code) == (400, "amount_out_of_range")
    assert ledger_of(repository) == []
    assert activate(services, card_number(7302), 10000, "EUR").status == 200


@pytest.mark.parametrize("env", [{"ACCEPTED_CURRENCIES": "EUR"}])
def test_activation_in_a_currency_not_accepted_is_invalid_request(
    services: Any, stock: dict[str, str | None]
) -> None:
    answer = activate(services, card_number(7302), 5, "USD")
    assert (answer.status, answer.error_code) == (400, "invalid_request")


# Registering unknown numbers ---------------------------------------------------------------------

REGISTER = {"REGISTER_UNKNOWN_ON_ACTIVATION": "true"}


@pytest.mark.parametrize("env", [REGISTER])
def test_unknown_number_is_created_and_activated_in_one_write(
    services: Any, repository: Any
) -> None:
    number = card_number(5150)
    # When an unknown number is activated with the flag on
    with DynamoCalls() as calls:
        answer = activate(services, number, 40, "USD")
    # Then it answers like any activation, in a single transaction
    assert (answer.status, answer.body) == (200, '{"identifier": {"number": "' + number + '"}}')
    assert calls.operations == ["TransactWriteItems"]
    # And the card exists, active, funded by exactly one entry, with no PIN
    funded = balance(services, number)
    assert (funded.status, funded.body) == (200, '{"value": 40, "currency": "USD"}')
    [entry] = ledger_of(repository)
    assert (entry.kind, entry.amount) == ("activate", 4000)
    # And it cannot be activated twice
    assert activate(services, number, 40, "USD").error_code == "card_already_active"


@pytest.mark.parametrize("env", [REGISTER])
def test_known_stock_is_still_activated_normally_with_the_flag(
    services: Any, stock: dict[str, str | None]
) -> None:
    number = card_number(7301)
    assert activate(services, number, 25).status == 200
    assert balance(services, number, "7301").json == {"value": 25, "currency": "EUR"}
