"""POST /gift_card/balance through lambda_handler: formatting, the order of checks, the PIN
lockout and card expiry (contract: "Return balance")."""

from __future__ import annotations

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
MINUTE = 60


def balance(services: Any, number: str, pin: str | None = None, **extra: Any) -> Any:
    identifier: dict[str, Any] = {"number": number}
    if pin is not None:
        identifier["pin"] = pin
    return invoke(
        "balance",
        {"identifier": identifier, "metadata": {"store_id": "store-1"}, **extra},
        services=services,
    )


def activate(services: Any, number: str, value: Any = 40, currency: str = "USD") -> None:
    answer = invoke(
        "activate",
        {"card_number": number, "amount": {"value": value, "currency": currency}},
        services=services,
    )
    assert answer.status == 200, answer.body


def deactivate(services: Any, number: str, **fields: Any) -> Any:
    return invoke("deactivate", {"card_number": number, **fields}, services=services)


def wrong(pin: str) -> str:
    return str((int(pin) + 1) % 10 ** len(pin)).zfill(len(pin))


def assert_invalid_card(answer: Any) -> None:
    assert (answer.status, answer.body) == (400, INVALID_CARD)


# Formatting --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_value", "currency", "body"),
    [
        ("25.5", "USD", '{"value": 25.5, "currency": "USD"}'),
        ("25.50", "USD", '{"value": 25.5, "currency": "USD"}'),
        ("100", "USD", '{"value": 100, "currency": "USD"}'),
        ("100.00", "USD", '{"value": 100, "currency": "USD"}'),
        ("1e2", "USD", '{"value": 100, "currency": "USD"}'),
        ("0.01", "EUR", '{"value": 0.01, "currency": "EUR"}'),
        ("500", "JPY", '{"value": 500, "currency": "JPY"}'),
        ("1.005", "KWD", '{"value": 1.005, "currency": "KWD"}'),
    ],
)
def test_balance_is_written_as_a_plain_json_number(
    services: Any, raw_value: str, currency: str, body: str
) -> None:
    # Given a card issued with this amount (the value sent as raw JSON text)
    raw = '{"amount": {"value": ' + raw_value + ', "currency": "' + currency + '"}, "customer": {}}'
    issued = invoke("issue", raw=raw, services=services)
    assert issued.status == 200, issued.body
    identifier = issued.json["identifier"]
    # When the balance is asked
    answer = balance(services, identifier["number"], identifier["pin"])
    # Then the body is exactly the amount, without trailing zeros or exponent
    assert (answer.status, answer.body) == (200, body)
    assert answer.headers.get("Content-Type") == "application/json"


def test_zero_balance_is_written_as_0(services: Any) -> None:
    # Given an active card whose spendable balance is 0 (e.g. fully reserved or spent)
    from giftcard import keys
    from giftcard.cards import Card, CardState

    number = card_number(900)
    material = keys.key_material(services.settings.keys_secret_id, 60)
    lookup = material.card_lookup(number)
    services.repository.create_card(
        Card(lookup=lookup, state=CardState.ACTIVE, last4=number[-4:], currency="USD", balance=0)
    )
    # When the balance is asked, Then it is the number 0
    answer = balance(services, number)
    assert (answer.status, answer.body) == (200, '{"value": 0, "currency": "USD"}')


def test_number_is_trimmed_and_spaces_and_dashes_inside_are_ignored(services: Any) -> None:
    number, pin = issue_card(12, services=services)
    typed = f"  {number[:4]} {number[4:8]}-{number[8:12]} - {number[12:]} "
    answer = balance(services, typed, pin)
    assert (answer.status, answer.body) == (200, '{"value": 12, "currency": "USD"}')


def test_unknown_fields_and_free_form_metadata_are_ignored(services: Any) -> None:
    number, pin = issue_card(12, services=services)
    answer = invoke(
        "balance",
        {
            "identifier": {"number": number, "pin": pin, "track2": "x", "extra": {"a": [1]}},
            "metadata": {"store_id": 17, "register": {"id": 3}, "tags": ["a"], "x": None},
            "future_field": {"anything": True},
        },
        services=services,
    )
    assert (answer.status, answer.body) == (200, '{"value": 12, "currency": "USD"}')


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"identifier": {}},
        {"identifier": {"pin": "1234"}},
        {"identifier": {"number": 7777000000000007}},
        {"identifier": {"number": card_number(1), "pin": 1234}},
        {"identifier": "7777000000000007"},
        {"identifier": {"number": ""}},
        [{"identifier": {"number": card_number(1)}}],
        "just a string",
    ],
)
def test_malformed_balance_request_is_invalid_request(services: Any, body: Any) -> None:
    answer = invoke("balance", body, services=services)
    assert answer.status == 400
    assert answer.error_code == "invalid_request"


def test_non_json_body_is_invalid_request(services: Any) -> None:
    answer = invoke("balance", raw='{"identifier": {"number": ', services=services)
    assert (answer.status, answer.error_code) == (400, "invalid_request")


# Order of checks: nothing but invalid_card before the PIN matched --------------------------------


@pytest.fixture
def pin_card(services: Any) -> tuple[str, str]:
    """An inactive printed card with PIN 4125."""
    number = card_number(4125)
    load_stock([(number, "4125")])
    return number, "4125"


def test_unknown_number_is_invalid_card(services: Any) -> None:
    assert_invalid_card(balance(services, card_number(55), "1234"))


def test_number_failing_luhn_is_invalid_card(services: Any) -> None:
    # Given a real card, When its number is sent with a wrong check digit
    number, pin = issue_card(services=services)
    # Then the answer is the same as for any unknown number
    assert_invalid_card(balance(services, with_bad_check_digit(number), pin))


def test_wrong_pin_and_missing_pin_are_invalid_card(services: Any) -> None:
    number, pin = issue_card(services=services)
    assert_invalid_card(balance(services, number, wrong(pin)))
    assert_invalid_card(balance(services, number))
    assert_invalid_card(balance(services, number, ""))


def test_state_of_an_inactive_card_is_only_told_after_the_pin_matched(
    services: Any, pin_card: tuple[str, str]
) -> None:
    number, pin = pin_card
    assert_invalid_card(balance(services, number))
    assert_invalid_card(balance(services, number, wrong(pin)))
    answer = balance(services, number, pin)
    assert (answer.status, answer.error_code) == (400, "card_not_active")


def test_state_of_a_deactivated_card_is_only_told_after_the_pin_matched(services: Any) -> None:
    number, pin = issue_card(services=services)
    assert deactivate(services, number).status == 200
    assert_invalid_card(balance(services, number))
    assert_invalid_card(balance(services, number, wrong(pin)))
    answer = balance(services, number, pin)
    assert (answer.status, answer.error_code) == (400, "card_deactivated")


def test_locked_card_answers_exactly_like_an_unknown_number(services: Any) -> None:
    number, pin = issue_card(services=services)
    for _ in range(5):
        balance(services, number, wrong(pin))
    locked = balance(services, number, pin)
    unknown = balance(services, card_number(77), pin)
    assert_invalid_card(locked)
    assert (locked.status, locked.body) == (unknown.status, unknown.body)


def test_card_without_pin_ignores_a_sent_pin(services: Any) -> None:
    # Given printed stock without a PIN, activated
    number = card_number(31)
    load_stock([(number, None)])
    activate(services, number, value=40)
    # Then the balance is told with no PIN and with any PIN sent
    for pin in (None, "0000", "99999999"):
        answer = balance(services, number, pin)
        assert (answer.status, answer.body) == (200, '{"value": 40, "currency": "USD"}')


def test_inactive_card_without_pin_tells_its_state(services: Any) -> None:
    number = card_number(32)
    load_stock([(number, None)])
    answer = balance(services, number)
    assert (answer.status, answer.error_code) == (400, "card_not_active")


# PIN lockout -------------------------------------------------------------------------------------


def test_five_wrong_pins_lock_the_card_for_fifteen_minutes(services: Any, clock: Any) -> None:
    # Given an issued card and five wrong PINs
    number, pin = issue_card(33, services=services)
    for _ in range(5):
        assert_invalid_card(balance(services, number, wrong(pin)))
    # Then even the right PIN is refused while locked, up to the last second
    assert_invalid_card(balance(services, number, pin))
    clock.advance(15 * MINUTE - 1)
    assert_invalid_card(balance(services, number, pin))
    # And after 15 minutes the right PIN works again
    clock.advance(2)
    answer = balance(services, number, pin)
    assert (answer.status, answer.body) == (200, '{"value": 33, "currency": "USD"}')


def test_four_wrong_pins_do_not_lock(services: Any) -> None:
    number, pin = issue_card(services=services)
    for _ in range(4):
        balance(services, number, wrong(pin))
    assert balance(services, number, pin).status == 200


def test_correct_pin_resets_the_failure_counter(services: Any) -> None:
    # Given 4 wrong PINs, then the right one
    number, pin = issue_card(services=services)
    for _ in range(4):
        balance(services, number, wrong(pin))
    assert balance(services, number, pin).status == 200
    # When 4 more wrong PINs follow, Then the card is still not locked
    for _ in range(4):
        balance(services, number, wrong(pin))
    assert balance(services, number, pin).status == 200
    # And the fifth consecutive wrong PIN locks it
    for _ in range(5):
        balance(services, number, wrong(pin))
    assert_invalid_card(balance(services, number, pin))


def test_missing_pin_is_refused_but_not_counted(services: Any) -> None:
    number, pin = issue_card(services=services)
    for _ in range(4):
        balance(services, number, wrong(pin))
    for _ in range(6):
        assert_invalid_card(balance(services, number))
    assert balance(services, number, pin).status == 200


def test_after_the_lock_expires_the_card_gets_a_fresh_set_of_attempts(
    services: Any, clock: Any
) -> None:
    number, pin = issue_card(services=services)
    for _ in range(5):
        balance(services, number, wrong(pin))
    clock.advance(15 * MINUTE + 1)
    for _ in range(4):
        balance(services, number, wrong(pin))
    assert balance(services, number, pin).status == 200


@pytest.mark.parametrize("env", [{"PIN_MAX_FAILURES": "3", "PIN_LOCKOUT_SECONDS": "120"}])
def test_lockout_threshold_and_duration_are_configurable(services: Any, clock: Any) -> None:
    number, pin = issue_card(services=services)
    for _ in range(2):
        balance(services, number, wrong(pin))
    assert balance(services, number, pin).status == 200
    for _ in range(3):
        balance(services, number, wrong(pin))
    assert_invalid_card(balance(services, number, pin))
    clock.advance(119)
    assert_invalid_card(balance(services, number, pin))
    clock.advance(2)
    assert balance(services, number, pin).status == 200


def test_wrong_pin_on_deactivate_counts_toward_the_lockout(services: Any, clock: Any) -> None:
    # Given 4 wrong PINs on balance and a 5th on deactivate
    number, pin = issue_card(20, services=services)
    for _ in range(4):
        balance(services, number, wrong(pin))
    assert_invalid_card(deactivate(services, number, pin=wrong(pin)))
    # Then the card is locked
    assert_invalid_card(balance(services, number, pin))
    # And the refused deactivation changed nothing
    clock.advance(15 * MINUTE + 1)
    answer = balance(services, number, pin)
    assert (answer.status, answer.body) == (200, '{"value": 20, "currency": "USD"}')


# Expiry ------------------------------------------------------------------------------------------

DAY = 86400


@pytest.mark.parametrize("env", [{"CARD_EXPIRY_DAYS": "30"}])
def test_card_expires_after_the_configured_days(services: Any, clock: Any) -> None:
    number, pin = issue_card(10, services=services)
    clock.advance(30 * DAY - 1)
    assert balance(services, number, pin).status == 200
    clock.advance(2)
    expired = balance(services, number, pin)
    assert (expired.status, expired.error_code) == (400, "card_expired")
    # The expiry is only told to a caller who proved the PIN
    assert_invalid_card(balance(services, number, wrong(pin)))
    assert_invalid_card(balance(services, number))


@pytest.mark.parametrize("env", [{"CARD_EXPIRY_DAYS": "30"}])
def test_activated_stock_card_expires_counted_from_activation(
    services: Any, clock: Any, pin_card: tuple[str, str]
) -> None:
    number, pin = pin_card
    clock.advance(100 * DAY)  # stock waits on the shelf: that time does not count
    activate(services, number)
    clock.advance(29 * DAY)
    assert balance(services, number, pin).status == 200
    clock.advance(2 * DAY)
    assert balance(services, number, pin).error_code == "card_expired"


def test_without_expiry_policy_cards_do_not_expire(services: Any, clock: Any) -> None:
    number, pin = issue_card(10, services=services)
    clock.advance(20 * 365 * DAY)
    assert balance(services, number, pin).status == 200
