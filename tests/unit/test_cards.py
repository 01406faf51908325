"""Card numbers and PINs: Luhn, normalization, generation (prefix, length, CSPRNG)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from giftcard.cards import (
    Card,
    CardState,
    Instrument,
    PinCharge,
    generate_number,
    generate_pin,
    last4,
    lock_seconds,
    luhn_check_digit,
    luhn_valid,
    normalize_number,
    plan_pin_charge,
    valid_pin_format,
)

#: Published Luhn-valid numbers (test card numbers of card schemes, the ISO/IEC 7812 example).
VALID = [
    "79927398713",
    "4539578763621486",
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
]


@pytest.mark.parametrize("number", VALID)
def test_known_valid_numbers_pass_luhn(number: str) -> None:
    assert luhn_valid(number)
    assert luhn_check_digit(number[:-1]) == number[-1]


@pytest.mark.parametrize("number", VALID)
def test_every_single_digit_error_fails_luhn(number: str) -> None:
    for position in range(len(number)):
        for digit in "0123456789":
            if digit != number[position]:
                typo = number[:position] + digit + number[position + 1 :]
                assert not luhn_valid(typo), (position, digit)


def test_swapped_adjacent_digits_fail_luhn() -> None:
    number = "4539578763621486"
    for position in range(len(number) - 1):
        a, b = number[position], number[position + 1]
        if {a, b} != {"0", "9"} and a != b:  # the one transposition Luhn cannot see
            swapped = number[:position] + b + a + number[position + 2 :]
            assert not luhn_valid(swapped), position


def test_luhn_needs_at_least_two_digits() -> None:
    assert not luhn_valid("0")
    assert not luhn_valid("")
    # and two are enough: a payload digit and its check digit
    assert luhn_valid("18")
    assert luhn_valid("00")
    assert not luhn_valid("19")


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("7777001234567890", "7777001234567890"),
        ("  7777001234567890\t", "7777001234567890"),
        ("7777 0012 3456 7890", "7777001234567890"),
        ("7777-0012-3456-7890", "7777001234567890"),
        (" 7777 - 0012 - 3456 - 7890 ", "7777001234567890"),
        ("123456789012", "123456789012"),
        ("1234567890123456789", "1234567890123456789"),
    ],
)
def test_normalize_drops_blanks_and_dashes(raw: str, normalized: str) -> None:
    assert normalize_number(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "12345678901",  # 11 digits
        "12345678901234567890",  # 20 digits
        "7777O01234567890",  # letter O
        "7777.0012.3456.7890",
        "+7777001234567890",
        "٧٧٧٧٠٠١٢٣٤٥٦٧٨٩٠",  # Arabic-Indic digits: isdigit() but not a card number
        "\uff17" * 4 + "\uff10" * 11 + "\uff19",  # fullwidth digits
    ],
)
def test_normalize_refuses_what_cannot_be_a_card_number(raw: str) -> None:
    assert normalize_number(raw) is None


@pytest.mark.parametrize(("prefix", "length"), [("7777", 16), ("", 12), ("603571", 19), ("9", 13)])
def test_generated_numbers_have_prefix_length_and_check_digit(prefix: str, length: int) -> None:
    for _ in range(200):
        number = generate_number(prefix, length)
        assert len(number) == length
        assert number.isdigit()
        assert number.startswith(prefix)
        assert luhn_valid(number)
        assert normalize_number(number) == number


def _chi_square(counts: Counter[str], total: int) -> float:
    expected = total / 10
    return sum((counts.get(d, 0) - expected) ** 2 / expected for d in "0123456789")


def test_generated_digits_look_uniform_and_do_not_repeat() -> None:
    numbers = [generate_number("7777", 16) for _ in range(3000)]
    assert len(set(numbers)) == len(numbers)
    random_parts = [number[4:-1] for number in numbers]
    all_digits = Counter("".join(random_parts))
    # 9 degrees of freedom: 60 is far beyond p = 1e-6 for a uniform source
    assert _chi_square(all_digits, 3000 * 11) < 60
    for position in (0, 5, 10):
        column = Counter(part[position] for part in random_parts)
        assert _chi_square(column, 3000) < 60, position


def test_generation_does_not_follow_the_seedable_random_module() -> None:
    # A number drawn from ``random`` would repeat after re-seeding; a CSPRNG does not.
    random.seed(1234)
    first = [generate_number("7777", 16) for _ in range(3)] + [generate_pin(4) for _ in range(3)]
    random.seed(1234)
    second = [generate_number("7777", 16) for _ in range(3)] + [generate_pin(4) for _ in range(3)]
    assert first[:3] != second[:3]
    assert first[3:] != second[3:]


@pytest.mark.parametrize("length", [4, 6, 12])
def test_generated_pins_are_digits_of_the_configured_length(length: int) -> None:
    pins = [generate_pin(length) for _ in range(500)]
    assert all(len(pin) == length and pin.isdigit() for pin in pins)
    assert all(valid_pin_format(pin) for pin in pins)


def test_generated_pins_look_uniform() -> None:
    pins = [generate_pin(4) for _ in range(4000)]
    assert _chi_square(Counter(pin[0] for pin in pins), 4000) < 60
    assert _chi_square(Counter(pin[3] for pin in pins), 4000) < 60
    assert len(set(pins)) > 3000  # ~3300 distinct expected out of 10,000 possible


@pytest.mark.parametrize(
    ("pin", "ok"),
    [("1234", True), ("0000", True), ("123456789012", True), ("1", True), ("", False),
     ("12a4", False), ("1234567890123", False), (" 1234", False), ("١٢٣٤", False)],
)  # fmt: skip
def test_pin_format(pin: str, ok: bool) -> None:
    assert valid_pin_format(pin) is ok


def test_last4() -> None:
    assert last4("7777001234567890") == "7890"


def test_card_lock_and_expiry_compare_times() -> None:
    card = Card(lookup="x", state=CardState.ACTIVE, last4="1234")
    assert not card.has_pin
    assert not card.locked(1_800_000_000)
    locked = card.with_(pin_hash="h", pin_locked_until=1_800_000_100)
    assert locked.has_pin
    assert locked.locked(1_800_000_099)
    assert not locked.locked(1_800_000_100)
    expiring = card.with_(expires_at="2027-02-14T08:00:00Z")
    assert not expiring.expired("2027-02-14T07:59:59Z")
    assert expiring.expired("2027-02-14T08:00:00Z")
    assert not card.expired("2099-01-01T00:00:00Z")


def test_card_states_only_move_forward() -> None:
    from giftcard.cards import STATE_ORDER

    assert (
        STATE_ORDER[CardState.INACTIVE]
        < STATE_ORDER[CardState.ACTIVE]
        < STATE_ORDER[CardState.DEACTIVATED]
    )
    assert [str(state) for state in CardState] == ["inactive", "active", "deactivated"]


# PIN guesses: the pure rules the charge writes (contract: PIN concurrency and escalation) ------

NOW = 1_800_000_000


def _card(**pin: Any) -> Card:
    return Card(lookup="l", state=CardState.ACTIVE, last4="0000", pin_hash="h", **pin)


def test_each_lockout_in_a_row_doubles_the_lock_up_to_a_day() -> None:
    assert [lock_seconds(900, n) for n in range(8)] == [
        900, 1800, 3600, 7200, 14400, 28800, 57600, 86400,
    ]  # fmt: skip
    assert lock_seconds(900, 1000) == 86400
    # a base longer than the cap is never shortened by it
    assert lock_seconds(2 * 86400, 3) == 2 * 86400


def test_a_guess_within_the_window_counts_one_more_and_keeps_the_lock_fields() -> None:
    card = _card(pin_failures=2, pin_locked_until=NOW - 10, pin_lockouts=1)
    charge = plan_pin_charge(card, NOW, 5, 900)
    assert charge == PinCharge(
        expect=(2, NOW - 10), failures=3, locked_until=NOW - 10, lockouts=1, locks=False
    )


def test_the_guess_before_the_last_leaves_one_and_does_not_lock() -> None:
    # limit 5: the 4th wrong guess in the window still leaves the card open for a 5th
    charge = plan_pin_charge(_card(pin_failures=3, pin_lockouts=2), NOW, 5, 900)
    assert charge == PinCharge(expect=(3, 0), failures=4, locked_until=0, lockouts=2, locks=False)


def test_the_windows_last_guess_carries_the_lock_and_the_streak() -> None:
    charge = plan_pin_charge(_card(pin_failures=4, pin_lockouts=2), NOW, 5, 900)
    assert charge == PinCharge(
        expect=(4, 0), failures=5, locked_until=NOW + 3600, lockouts=3, hard_locked=False,
        locks=True,
    )  # fmt: skip
    # the 5th lockout in a row is a hard lock
    hard = plan_pin_charge(_card(pin_failures=4, pin_lockouts=4), NOW, 5, 900)
    assert hard is not None and hard.hard_locked and hard.lockouts == 5


def test_a_guess_after_the_lock_ended_opens_a_new_window() -> None:
    card = _card(pin_failures=5, pin_locked_until=NOW, pin_lockouts=1)
    charge = plan_pin_charge(card, NOW, 5, 900)
    assert charge == PinCharge(expect=(5, NOW), failures=1, locked_until=NOW, lockouts=1)


def test_no_guess_is_charged_on_a_locked_or_hard_locked_card() -> None:
    assert plan_pin_charge(_card(pin_failures=5, pin_locked_until=NOW + 1), NOW, 5, 900) is None
    assert plan_pin_charge(_card(pin_hard_locked=True), NOW, 5, 900) is None
    assert _card(pin_hard_locked=True).locked(NOW + 10**9)


def test_a_limit_of_one_locks_on_the_first_wrong_guess() -> None:
    charge = plan_pin_charge(_card(), NOW, 1, 900)
    assert charge is not None and charge.locks and charge.failures == 1


def test_an_instrument_holds_what_was_authorized_less_captured_and_released() -> None:
    # reserved: still capturable; refundable: captured and not yet refunded
    instrument = Instrument(
        instrument_id="i",
        lookup="l",
        currency="USD",
        authorized=100,
        captured=30,
        refunded=10,
        released=20,
        version=3,
        created_at="now",
        expires_at=0,
    )
    assert (instrument.reserved, instrument.refundable) == (50, 20)
