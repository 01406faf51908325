"""Deployment settings from the environment: documented defaults, strict parsing, and refusal
of values that would break the service (an invalid value must fail the cold start loudly, not
run with a surprise)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from giftcard.settings import (
    ENVIRONMENT,
    MAXIMUM_SCALE,
    Settings,
    get_settings,
    settings_from,
)


def test_defaults_are_the_contracts() -> None:
    settings = settings_from({})
    assert settings.api_key_header == "Authorization"
    assert (settings.card_number_prefix, settings.card_number_length, settings.pin_length) == (
        "7777",
        16,
        4,
    )
    assert (settings.pin_max_failures, settings.pin_lockout_seconds) == (5, 900)
    assert settings.idempotency_retention_days == 30
    assert settings.card_expiry_days == 0
    assert settings.accepted_currencies == frozenset()
    assert settings.max_card_balance == Decimal(10000)
    assert settings.max_body_bytes == 64 * 1024
    assert settings.issued_cards_need_activation is False
    assert settings.register_unknown_on_activation is False


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "True", "yes", "on", " true "])
def test_true_spellings(raw: str) -> None:
    assert settings_from({"ISSUED_CARDS_NEED_ACTIVATION": raw}).issued_cards_need_activation


@pytest.mark.parametrize("raw", ["0", "false", "FALSE", "no", "off"])
def test_false_spellings(raw: str) -> None:
    settings = settings_from({"REGISTER_UNKNOWN_ON_ACTIVATION": raw})
    assert settings.register_unknown_on_activation is False


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "tru"])
def test_other_boolean_values_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        settings_from({"ISSUED_CARDS_NEED_ACTIVATION": raw})


def test_empty_variable_means_default() -> None:
    assert settings_from({"PIN_LENGTH": "", "CARD_NUMBER_PREFIX": ""}).pin_length == 4


def test_currency_list_is_trimmed_uppercased_and_deduplicated() -> None:
    settings = settings_from({"ACCEPTED_CURRENCIES": " usd, EUR ,,eur, jpy "})
    assert settings.accepted_currencies == frozenset({"USD", "EUR", "JPY"})


def test_per_currency_maximum_map() -> None:
    settings = settings_from(
        {"MAX_CARD_BALANCE": "5000.50", "MAX_CARD_BALANCE_BY_CURRENCY": "jpy=1000000, EUR=2500,"}
    )
    assert settings.max_card_balance == Decimal("5000.50")
    assert dict(settings.max_card_balance_by_currency) == {
        "JPY": Decimal(1000000),
        "EUR": Decimal(2500),
    }
    assert settings.max_balance_for("JPY") == Decimal(1000000)
    assert settings.max_balance_for("USD") == Decimal("5000.50")


def test_default_maximum_is_worth_about_the_same_in_every_currency() -> None:
    settings = settings_from({})
    assert settings.max_balance_for("USD") == Decimal(10000)
    for currency in ("EUR", "GBP", "CHF", "CAD", "AUD"):
        assert settings.max_balance_for(currency) == Decimal(10000)
    assert settings.max_balance_for("JPY") == Decimal(1_500_000)
    assert settings.max_balance_for("KRW") == Decimal(15_000_000)
    assert settings.max_balance_for("KWD") == Decimal(3000)


def test_maximum_scale_table_follows_its_rounding_rule() -> None:
    from iso4217 import Currency

    # Every factor is 1, 1.5, 2, 3, 5 or 7.5 times a power of ten, never 1 itself (unlisted), and
    # every code is an active ISO 4217 currency with minor units
    for code, factor in MAXIMUM_SCALE.items():
        mantissa = factor.scaleb(-factor.adjusted()).normalize()
        assert mantissa in {Decimal(1), Decimal("1.5"), Decimal(2), Decimal(3), Decimal(5),
                            Decimal("7.5")}, code  # fmt: skip
        assert factor != 1, code
        assert Currency(code).exponent is not None, code


def test_scaled_maximum_follows_the_base_setting_and_overrides_win() -> None:
    settings = settings_from(
        {"MAX_CARD_BALANCE": "500", "MAX_CARD_BALANCE_BY_CURRENCY": "JPY=2000000"}
    )
    assert settings.max_balance_for("USD") == Decimal(500)
    assert settings.max_balance_for("KRW") == Decimal(750_000)
    assert settings.max_balance_for("JPY") == Decimal(2_000_000)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("JPY", "CODE=AMOUNT"),
        ("YEN=100", "ISO 4217"),
        ("JPYY=100", "ISO 4217"),
        ("JPY=100,jpy=200", "twice"),
        ("JPY=0", "positive"),
    ],
)
def test_bad_per_currency_maximum_is_refused_naming_the_variable(raw: str, problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        settings_from({"MAX_CARD_BALANCE_BY_CURRENCY": raw})
    assert "MAX_CARD_BALANCE_BY_CURRENCY" in str(refused.value)
    assert problem in str(refused.value)


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("MAX_CARD_BALANCE", "abc"),
        ("MAX_CARD_BALANCE", "0"),
        ("MAX_CARD_BALANCE", "-10"),
        ("MAX_CARD_BALANCE", "NaN"),
        ("MAX_CARD_BALANCE", "Infinity"),
        ("MAX_CARD_BALANCE_BY_CURRENCY", "JPY=abc"),
        ("MAX_CARD_BALANCE_BY_CURRENCY", "JPY=-1"),
        ("MAX_CARD_BALANCE_BY_CURRENCY", "JPY"),
        ("PIN_LENGTH", "four"),
        ("PIN_LENGTH", "3"),
        ("PIN_LENGTH", "13"),
        ("CARD_NUMBER_LENGTH", "11"),
        ("CARD_NUMBER_LENGTH", "20"),
        ("CARD_NUMBER_PREFIX", "77a7"),
        ("PIN_MAX_FAILURES", "0"),
        ("PIN_LOCKOUT_SECONDS", "0"),
        ("IDEMPOTENCY_RETENTION_DAYS", "29"),
        ("CARD_EXPIRY_DAYS", "-1"),
        ("MAX_BODY_BYTES", "10"),
        ("STORAGE_MAX_ATTEMPTS", "0"),
        ("SECRETS_CACHE_SECONDS", "-1"),
    ],
)
def test_invalid_values_are_refused(variable: str, raw: str) -> None:
    with pytest.raises(ValueError):
        settings_from({variable: raw})


@pytest.mark.parametrize(
    ("prefix", "length"), [("12345678", 16), ("1234", 12), ("123456789012", 19)]
)
def test_prefix_leaving_fewer_than_8_random_digits_is_refused(prefix: str, length: int) -> None:
    with pytest.raises(ValueError):
        settings_from({"CARD_NUMBER_PREFIX": prefix, "CARD_NUMBER_LENGTH": str(length)})


def test_longest_prefix_that_leaves_8_random_digits_is_accepted() -> None:
    settings = settings_from({"CARD_NUMBER_PREFIX": "1234567", "CARD_NUMBER_LENGTH": "16"})
    assert settings.card_number_prefix == "1234567"


def test_every_variable_maps_to_a_setting() -> None:
    fields = set(Settings.model_fields)
    assert {name for name, _parse in ENVIRONMENT.values()} <= fields


def test_settings_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIN_LENGTH", "6")
    get_settings.cache_clear()
    try:
        assert get_settings().pin_length == 6
        monkeypatch.setenv("PIN_LENGTH", "8")
        assert get_settings().pin_length == 6
        get_settings.cache_clear()
        assert get_settings().pin_length == 8
    finally:
        monkeypatch.delenv("PIN_LENGTH")
        get_settings.cache_clear()


def test_settings_are_immutable() -> None:
    settings = settings_from({})
    with pytest.raises(ValueError):
        settings.pin_length = 8  # type: ignore[misc]


def test_readme_lists_the_default_maximum_of_every_scaled_currency() -> None:
    from pathlib import Path

    contract = (Path(__file__).parents[2] / "docs" / "contract.md").read_text(encoding="utf-8")
    table = contract.split("<!-- maximum-table:start -->")[1].split("<!-- maximum-table:end -->")[0]
    listed: dict[str, Decimal] = {}
    for row in table.strip().splitlines()[2:]:
        factor, maximum, codes = (cell.strip() for cell in row.strip("|").split("|"))
        assert Decimal(maximum.replace(",", "")) == Decimal(10000) * Decimal(factor)
        listed.update({code.strip(): Decimal(factor) for code in codes.split(",")})
    assert listed == dict(MAXIMUM_SCALE)
