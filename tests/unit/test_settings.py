"""Deployment settings from the environment: documented defaults, strict parsing, and refusal
of values that would break the service (an invalid value must fail the cold start loudly, not
run with a surprise)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from giftcard.settings import ENVIRONMENT, Settings, get_settings, settings_from


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
