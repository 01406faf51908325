"""Context -> configuration: defaults, string values from `cdk -c`, validation at synth."""

from __future__ import annotations

from pathlib import Path

import pytest

from giftcard.settings import ENVIRONMENT
from infra import PROJECT_ROOT
from infra.config import (
    FUNCTION_SCOPED_VARIABLES,
    SERVICE_SETTING_VARIABLES,
    STACK_OWNED_VARIABLES,
    StackConfig,
    config_from_context,
    context_keys,
)


def test_defaults_without_context() -> None:
    config = config_from_context({})
    assert config == StackConfig()
    assert config.functions_dir == PROJECT_ROOT / "functions"
    assert config.layer_asset_dir == PROJECT_ROOT / "build" / "layer"
    assert config.service_environment == {}


def test_every_service_setting_is_a_context_key() -> None:
    # The settings module is the authority: each variable it reads is either set by the stack
    # from its own resources or settable through context under the setting's own name.
    for variable, (name, _parse) in ENVIRONMENT.items():
        assert variable in STACK_OWNED_VARIABLES or SERVICE_SETTING_VARIABLES[name] == variable
    assert set(SERVICE_SETTING_VARIABLES) <= set(context_keys())


def test_command_line_strings_are_parsed() -> None:
    config = config_from_context(
        {
            "throttle_rate": "75",
            "tracing": "false",
            "waf_common_rules": "no",
            "newstore_ip_allowlist": "203.0.113.10, 203.0.113.11",
            "functions_dir": "elsewhere/functions",
            "register_unknown_on_activation": "true",
            "max_card_balance": "250.50",
        }
    )
    assert config.throttle_rate == 75
    assert config.tracing is False
    assert config.waf_common_rules is False
    assert config.ipv4_allowlist == ["203.0.113.10/32", "203.0.113.11/32"]
    assert config.functions_dir == PROJECT_ROOT / "elsewhere" / "functions"
    assert config.service_environment == {
        "REGISTER_UNKNOWN_ON_ACTIVATION": "true",
        "MAX_CARD_BALANCE": "250.50",
    }


def test_json_list_on_the_command_line() -> None:
    config = config_from_context({"newstore_ip_allowlist": '["2001:db8::1"]'})
    assert config.ipv6_allowlist == ["2001:db8::1/128"]
    assert config.ipv4_allowlist == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_body_bytes", 65537),  # WAF cannot inspect more than 64 KiB
        ("api_key_header", "X Api Key"),
        ("log_level", "LOUD"),
        ("log_retention_days", 42),
        ("authorizer_cache_seconds", 7200),
        ("throttle_rate", "fast"),
        ("tracing", "maybe"),
        ("newstore_ip_allowlist", ["not-an-ip"]),
        ("lambda_timeout_seconds", 30),  # beyond API Gateway's 29 s integration timeout
        # service settings go through the functions' own parser
        ("card_number_prefix", "123456789"),  # leaves fewer than 8 random digits
        ("pin_length", 2),
        ("idempotency_retention_days", 7),  # the contract keeps keys at least 30 days
        ("issued_cards_need_activation", "perhaps"),
    ],
)
def test_bad_values_fail_the_synth(key: str, value: object) -> None:
    with pytest.raises(ValueError):
        config_from_context({key: value})


def test_docs_list_every_context_key() -> None:
    deploy = (Path(PROJECT_ROOT) / "docs" / "deploy.md").read_text()
    missing = [key for key in context_keys() if f"`{key}`" not in deploy]
    assert missing == []


def test_issuance_ceiling_settings_pass_through_validated() -> None:
    config = config_from_context(
        {
            "issuance_ceiling_factor": "50",
            "issuance_ceiling_by_currency": {"USD": 250000, "EUR": "200000.50"},
            "issuance_alert_fraction": 0.9,
        }
    )
    assert config.service_environment == {
        "ISSUANCE_CEILING_FACTOR": "50",
        "ISSUANCE_CEILING_BY_CURRENCY": "USD=250000,EUR=200000.50",
        "ISSUANCE_ALERT_FRACTION": "0.9",
    }
    # Only the two functions that load money read them.
    assert {FUNCTION_SCOPED_VARIABLES[v] for v in config.service_environment} == {
        frozenset({"issue", "activate"})
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("issuance_ceiling_factor", 0),
        ("issuance_ceiling_factor", "many"),
        ("issuance_ceiling_by_currency", "USD"),
        ("issuance_ceiling_by_currency", "USD=-5"),
        ("issuance_ceiling_by_currency", "DOLLAR=5"),
        ("issuance_alert_fraction", "1.5"),
        ("issuance_alert_fraction", "0"),
        ("issuance_alert_fraction", "most"),
    ],
)
def test_bad_issuance_settings_fail_the_synth(key: str, value: object) -> None:
    with pytest.raises(ValueError):
        config_from_context({key: value})
