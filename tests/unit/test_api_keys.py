"""The authorizer's rules without AWS: which entries of the API keys secret open the API, what a
header presents, and the resource the policy grants (tests/unit/test_auth.py runs the handler
against Secrets Manager on moto)."""

from __future__ import annotations

from typing import Any

import pytest

from giftcard import keys
from giftcard.auth import (
    MAX_KEY_LENGTH,
    MIN_KEY_LENGTH,
    ApiKey,
    Unauthenticated,
    active_keys,
    authorize,
    presented_key,
    stage_arn,
)
from giftcard.settings import Settings

KEY = "api-key-for-the-rules-0123456789"


def test_a_bare_list_of_keys_is_a_secret_too() -> None:
    assert active_keys([{"id": "a", "key": KEY}]) == [ApiKey("a", KEY.encode())]


@pytest.mark.parametrize("secret", [None, 7, KEY, "", True])
def test_a_secret_of_another_shape_opens_nothing(secret: Any) -> None:
    assert active_keys(secret) == []


def test_keys_without_an_id_are_named_by_position() -> None:
    # The id becomes the ledger's key_id: it must not change between invocations or versions.
    secret = {"keys": [{"key": KEY}, {"key": "weak"}, {"key": KEY + "-2"}]}
    assert [key.key_id for key in active_keys(secret)] == ["key-1", "key-3"]


def test_key_length_limits_are_inclusive() -> None:
    assert (MIN_KEY_LENGTH, MAX_KEY_LENGTH) == (16, 512)
    secret = [{"id": str(length), "key": "k" * length} for length in (15, 16, 512, 513)]
    assert [key.key_id for key in active_keys(secret)] == ["16", "512"]


def test_the_longest_key_can_be_presented_and_one_more_character_cannot() -> None:
    assert presented_key({"Authorization": "k" * 512}, "Authorization") == b"k" * 512
    with pytest.raises(Unauthenticated):
        presented_key({"Authorization": "k" * 513}, "Authorization")


@pytest.mark.parametrize("value", ["", "  ", "x" * 100_000])
def test_empty_or_oversized_values_are_refused_before_any_comparison(value: str) -> None:
    with pytest.raises(Unauthenticated):
        presented_key({"Authorization": value}, "Authorization")


def test_a_bearer_key_may_contain_spaces() -> None:
    assert presented_key({"Authorization": "Bearer two words"}, "Authorization") == b"two words"


@pytest.mark.parametrize(
    ("method_arn", "resource"),
    [
        pytest.param(
            "arn:aws:execute-api:us-east-1:1:api/prod/POST/gift_card/balance",
            "arn:aws:execute-api:us-east-1:1:api/prod/*/*",
            id="route",
        ),
        pytest.param(
            "arn:aws:execute-api:us-east-1:1:api/prod/POST/financial_instruments/x:execute-api:y",
            "arn:aws:execute-api:us-east-1:1:api/prod/*/*",
            id="path-repeats-the-marker",
        ),
        pytest.param(
            "arn:aws:execute-api:us-east-1:1:api/prod",
            "arn:aws:execute-api:us-east-1:1:api/prod/*/*",
            id="stage-only",
        ),
        pytest.param(
            "arn:aws:execute-api:us-east-1:1:api",
            "arn:aws:execute-api:us-east-1:1:api",
            id="no-stage",
        ),
        pytest.param("not-an-arn", "not-an-arn", id="garbage"),
        pytest.param("", "", id="empty"),
    ],
)
def test_the_policy_grants_the_stage_of_the_method(method_arn: str, resource: str) -> None:
    # A client-chosen path (an instrument id) must not move the grant to another API or stage.
    assert stage_arn(method_arn) == resource


def test_an_event_without_method_arn_grants_no_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys.secrets, "get", lambda secret_id, max_age: {"key": KEY})
    answer = authorize({"headers": {"Authorization": KEY}}, Settings())
    assert answer["policyDocument"]["Statement"][0]["Resource"] == ""


def test_the_keys_are_read_with_the_configured_cache_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # How long a revoked key keeps working is this setting, not a library default.
    reads: list[tuple[str, Any]] = []

    def get(secret_id: str, max_age: Any) -> Any:
        reads.append((secret_id, max_age))
        return {"key": KEY}

    monkeypatch.setattr(keys.secrets, "get", get)
    settings = Settings(api_keys_secret_id="team/api-keys", secrets_cache_seconds=17)
    authorize({"headers": {"Authorization": KEY}, "methodArn": ""}, settings)
    assert reads == [("team/api-keys", 17)]
