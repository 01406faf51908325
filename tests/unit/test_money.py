"""Money and JSON numbers: major units at the edges, exact integer minor units inside, no float
anywhere (contract: "Money")."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from giftcard.errors import AmountOutOfRange, InvalidRequest
from giftcard.jsonio import AbsurdNumber, JSONError, dumps, format_decimal, loads
from giftcard.money import (
    check_currency,
    issuance_ceiling_minor,
    max_minor,
    minor_digits,
    to_major,
    to_minor,
)
from giftcard.settings import Settings, settings_from

DEFAULT = Settings()


# to_minor ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("50", "USD", 5000),
        ("25.5", "USD", 2550),
        ("25.50", "USD", 2550),
        ("0.01", "USD", 1),
        ("10.000", "USD", 1000),  # trailing zeros are not extra decimals
        ("1E+2", "USD", 10000),
        ("1e2", "USD", 10000),
        ("1.5e1", "USD", 1500),
        ("1e-2", "USD", 1),
        ("2500E-2", "USD", 2500),
        ("10000", "USD", 1000000),  # exactly the default maximum
        ("9999.99", "USD", 999999),
        ("500", "JPY", 500),
        ("1E+3", "JPY", 1000),
        ("1.005", "KWD", 1005),
        ("0.0001", "CLF", 1),
    ],
)
def test_to_minor_converts_exactly(value: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(value), currency, DEFAULT) == minor


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("10.005", "USD"),
        ("0.001", "USD"),
        ("1e-3", "USD"),
        ("1e-400", "USD"),
        ("9999.999999999999999999999999", "USD"),
        ("1.5", "JPY"),
        ("0.1", "JPY"),
        ("1.0005", "KWD"),
    ],
)
def test_more_decimals_than_the_currency_has_is_invalid_request(value: str, currency: str) -> None:
    with pytest.raises(InvalidRequest):
        to_minor(Decimal(value), currency, DEFAULT)


@pytest.mark.parametrize(
    "value", ["0", "-0", "0.00", "-5", "-0.01", "NaN", "Infinity", "-Infinity"]
)
def test_zero_negative_and_non_finite_are_invalid_request(value: str) -> None:
    with pytest.raises(InvalidRequest):
        to_minor(Decimal(value), "USD", DEFAULT)


@pytest.mark.parametrize("value", ["10000.01", "10001", "1e5", "1e400", "1E+999999"])
def test_over_the_maximum_is_amount_out_of_range(value: str) -> None:
    # 1e400 must be refused by comparison, never by computing 10**400 minor units
    with pytest.raises(AmountOutOfRange):
        to_minor(Decimal(value), "USD", DEFAULT)


def test_amount_out_of_range_is_not_invalid_request() -> None:
    # The contract gives them different codes; one must not be a subclass of the other.
    assert not issubclass(AmountOutOfRange, InvalidRequest)
    assert AmountOutOfRange.error_code == "amount_out_of_range"


@pytest.mark.parametrize("currency", ["ABC", "XAU", "XXX", "usd", "", "US"])
def test_unknown_currency_is_invalid_request(currency: str) -> None:
    with pytest.raises(InvalidRequest):
        to_minor(Decimal(5), currency, DEFAULT)


def test_deployment_may_narrow_the_accepted_currencies() -> None:
    settings = settings_from({"ACCEPTED_CURRENCIES": "EUR,USD"})
    assert to_minor(Decimal(5), "EUR", settings) == 500
    with pytest.raises(InvalidRequest):
        to_minor(Decimal(5), "JPY", settings)
    with pytest.raises(InvalidRequest):
        check_currency("GBP", settings)


def test_maximum_per_currency_overrides_the_default() -> None:
    settings = settings_from(
        {"MAX_CARD_BALANCE": "200", "MAX_CARD_BALANCE_BY_CURRENCY": "JPY=30000"}
    )
    assert to_minor(Decimal(30000), "JPY", settings) == 30000
    with pytest.raises(AmountOutOfRange):
        to_minor(Decimal(30001), "JPY", settings)
    assert to_minor(Decimal(200), "USD", settings) == 20000
    with pytest.raises(AmountOutOfRange):
        to_minor(Decimal("200.01"), "USD", settings)
    assert max_minor("JPY", settings) == 30000
    assert max_minor("USD", settings) == 20000


def test_minor_digits_come_from_iso_4217() -> None:
    assert [minor_digits(c) for c in ("USD", "EUR", "JPY", "KWD", "CLF")] == [2, 2, 0, 3, 4]
    assert minor_digits("ABC") is None


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(2550, "USD", "25.5"), (10000, "USD", "100"), (0, "USD", "0"), (1, "USD", "0.01"),
     (500, "JPY", "500"), (1005, "KWD", "1.005"), (1000, "KWD", "1")],
)  # fmt: skip
def test_to_major_is_exact_and_formats_without_noise(minor: int, currency: str, text: str) -> None:
    major = to_major(minor, currency)
    assert major == Decimal(text)
    assert format_decimal(major) == text


# jsonio ------------------------------------------------------------------------------------------


def _no_floats(value: Any) -> bool:
    if isinstance(value, float):
        return False
    if isinstance(value, dict):
        return all(_no_floats(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_floats(v) for v in value)
    return True


def test_loads_parses_every_number_as_decimal() -> None:
    data = loads('{"a": 25.50, "b": 100, "c": [1e2, 0.1, -3], "d": {"e": 1E-2}}')
    assert _no_floats(data)
    assert data["a"] == Decimal("25.50")
    assert str(data["a"]) == "25.50"  # not 25.5 via float
    assert data["c"] == [Decimal(100), Decimal("0.1"), Decimal(-3)]
    assert isinstance(data["b"], Decimal)


def test_loads_keeps_precision_a_float_would_lose() -> None:
    assert loads("0.1000000000000000055511151231257827") == Decimal(
        "0.1000000000000000055511151231257827"
    )
    assert loads("12345678901234567890.01") == Decimal("12345678901234567890.01")


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", '{"value": NaN}', "[Infinity]"])
def test_loads_refuses_nan_and_infinity(text: str) -> None:
    with pytest.raises(JSONError):
        loads(text)


@pytest.mark.parametrize("text", ["", "{", "{'a': 1}", "[1,]", b"\xff\xfe{", "nul"])
def test_loads_refuses_invalid_json(text: Any) -> None:
    with pytest.raises(JSONError):
        loads(text)


def test_loads_refuses_deep_nesting_without_crashing() -> None:
    with pytest.raises(JSONError):
        loads("[" * 200_000 + "]" * 200_000)
    with pytest.raises(JSONError):
        loads('{"a":' * 100_000 + "1" + "}" * 100_000)


def test_jsonerror_is_a_value_error() -> None:
    assert issubclass(JSONError, ValueError)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("25.50"), "25.5"),
        (Decimal("1E+2"), "100"),
        (Decimal("100.00"), "100"),
        (Decimal("0.00"), "0"),
        (Decimal("-0"), "0"),
        (Decimal("0.010"), "0.01"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("12345678901234567890.5"), "12345678901234567890.5"),
        (Decimal(-3), "-3"),
    ],
)
def test_decimals_are_written_as_plain_json_numbers(value: Decimal, text: str) -> None:
    assert dumps(value) == text
    assert json.loads(dumps({"v": value}), parse_float=Decimal)["v"] == Decimal(text)


def test_dumps_refuses_floats_and_non_finite_decimals() -> None:
    with pytest.raises(TypeError):
        dumps({"value": 25.5})
    with pytest.raises(ValueError):
        dumps(Decimal("NaN"))
    with pytest.raises(ValueError):
        dumps(Decimal("Infinity"))


def test_dumps_keeps_key_order_and_is_valid_json() -> None:
    value = {"identifier": {"number": "7777", "pin": "1"}, "amount": {"value": Decimal(5)}}
    text = dumps(value)
    assert text == '{"identifier": {"number": "7777", "pin": "1"}, "amount": {"value": 5}}'
    assert dumps(loads(text)) == text
    mixed = [None, True, False, 3, 'é\n"\\']
    assert json.loads(dumps(mixed)) == mixed


# What a refusal says, and the guards the reliability suites also probe ---------------------------


@pytest.mark.parametrize(
    ("value", "currency", "message"),
    [
        ("5", "ABC", "Unknown or unsupported currency."),
        ("5", "JPY", "This currency is not accepted."),
        ("0", "USD", "The amount must be a positive number."),
        ("1.001", "USD", "The amount has more decimals than the currency allows."),
    ],
)
def test_each_invalid_amount_says_what_is_wrong(value: str, currency: str, message: str) -> None:
    # The message is the caller's only hint in the 400 answer: it names the rule broken.
    settings = settings_from({"ACCEPTED_CURRENCIES": "USD,ABC"})
    with pytest.raises(InvalidRequest) as refused:
        to_minor(Decimal(value), currency, settings)
    assert refused.value.message == message


def test_an_amount_written_with_thousands_of_zeros_converts_exactly() -> None:
    # 5 with 5,000 trailing zeros (and the exponent to match) is 5.00: it must not reach int()
    # with more digits than Python converts (ValueError, a 500).
    assert to_minor(Decimal("5" + "0" * 5000 + "E-5000"), "USD", DEFAULT) == 500


def test_a_maximum_with_more_decimals_than_the_currency_rounds_down() -> None:
    # 100.555 USD allows 100.55, never 100.56: the maximum is never exceeded by rounding.
    settings = settings_from({"MAX_CARD_BALANCE": "100.555"})
    assert max_minor("USD", settings) == 10055
    # JPY's maximum is 150 times the base (the per-currency table): 15,083.25 yen allows 15,083
    assert max_minor("JPY", settings) == 15083


# issuance_ceiling_minor (anti-minting: the value loaded per currency per UTC day) ----------------


def test_the_daily_issuance_ceiling_is_the_factor_times_each_currencys_maximum() -> None:
    # 100 x the per-card maximum, alarm at 80 %, in each currency's own minor units
    assert issuance_ceiling_minor("USD", DEFAULT) == (100_000_000, 80_000_000)  # 1,000,000.00
    assert issuance_ceiling_minor("JPY", DEFAULT) == (150_000_000, 120_000_000)  # no minor unit
    assert issuance_ceiling_minor("BHD", DEFAULT) == (300_000_000, 240_000_000)  # 3 digits
    settings = settings_from({"MAX_CARD_BALANCE": "200", "ISSUANCE_CEILING_FACTOR": "3"})
    assert issuance_ceiling_minor("USD", settings) == (60_000, 48_000)


def test_a_per_currency_issuance_ceiling_wins_over_the_factor() -> None:
    settings = settings_from(
        {"ISSUANCE_CEILING_BY_CURRENCY": "JPY=500000", "ISSUANCE_ALERT_FRACTION": "0.5"}
    )
    assert issuance_ceiling_minor("JPY", settings) == (500_000, 250_000)
    assert issuance_ceiling_minor("USD", settings) == (100_000_000, 50_000_000)


def test_the_issuance_ceiling_and_its_alert_level_round_down() -> None:
    # Never a minor unit more than configured: 100.555 USD allows 100.55, an alert at 80 % of
    # 1,001 yen (800.8) fires at 800, not 801.
    settings = settings_from(
        {
            "MAX_CARD_BALANCE": "100.555",
            "ISSUANCE_CEILING_FACTOR": "1",
            "ISSUANCE_CEILING_BY_CURRENCY": "JPY=1001",
        }
    )
    assert issuance_ceiling_minor("USD", settings) == (10055, 8044)
    assert issuance_ceiling_minor("JPY", settings) == (1001, 800)


@pytest.mark.parametrize(
    "text",
    ["1.50", "1E+1000", "-5e-1000", "2.5E3", "-0", "0.010", "9" * 100, "1e0001000", "100",
     # 100 digits: neither the sign nor the point counts; leading zeros of an exponent neither
     "-" + "9" * 100, "0." + "9" * 99, "-" + "9" * 50 + "." + "9" * 50, "1e00001", "1E-00000"],
)  # fmt: skip
def test_parsed_numbers_are_written_back_exactly_as_they_were_written(text: str) -> None:
    parsed = loads(f'{{"n": [{text}]}}')
    assert parsed["n"][0] == Decimal(text)
    assert dumps(parsed) == f'{{"n": [{text}]}}'


@pytest.mark.parametrize(
    "text",
    ["1e1001", "1E+999999999", "5e-1001", "9" * 101, "-" + "9" * 101, "0." + "0" * 100 + "1",
     "1e" + "0" * 5000 + "1001", "1e" + "9" * 5000],
)  # fmt: skip
def test_absurd_number_literals_are_refused_when_parsed(text: str) -> None:
    with pytest.raises(AbsurdNumber):
        loads(f'{{"metadata": {{"n": {text}}}}}')
