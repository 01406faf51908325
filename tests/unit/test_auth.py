"""The API-key authorizer (functions/authorizer/handler.py) against Secrets Manager on moto:
what opens the API, what gets the one identical refusal, rotation, the policy, and the
difference between "wrong key" (401) and "cannot check keys" (503)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.authorizer.handler import lambda_handler
from giftcard.errors import RetryError
from tests.support.aws import API_KEY, API_KEY_ID, API_KEYS_SECRET
from tests.support.events import METHOD_ARN, LambdaContext, authorizer_event

STAGE = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*/*"
SECOND_KEY = "second-api-key-for-rotation-0123456789"


def authorize(headers: dict[str, str] | None) -> dict[str, Any]:
    return lambda_handler(authorizer_event(headers), LambdaContext())


def refused(headers: dict[str, str] | None) -> dict[str, Any]:
    # A refusal is an answer, never an exception: Lambda would count an exception as a function
    # error (the AuthorizerErrors alarm) and API Gateway would not cache it.
    return authorize(headers)


def failed(headers: dict[str, str] | None) -> BaseException:
    with pytest.raises(Exception) as info:
        authorize(headers)
    return info.value


def assert_unauthorized(answer: dict[str, Any]) -> None:
    # The one refusal: a Deny on the whole stage (API Gateway: ACCESS_DENIED, which the stack
    # answers with 401 unauthorized, cached per header value), naming no key and carrying nothing
    assert answer == {
        "principalId": "unauthenticated",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": STAGE}],
        },
    }


def set_api_keys(value: Any) -> None:
    import boto3

    from giftcard import keys

    boto3.client("secretsmanager").put_secret_value(
        SecretId=API_KEYS_SECRET, SecretString=json.dumps(value)
    )
    keys.secrets.clear()


@pytest.fixture(autouse=True)
def offline(aws: None) -> Iterator[None]:
    yield


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": API_KEY},
        {"Authorization": f"Bearer {API_KEY}"},
        {"Authorization": f"bearer {API_KEY}"},
        {"authorization": API_KEY},
        {"AUTHORIZATION": f"Bearer {API_KEY}"},
        {"Authorization": f"  {API_KEY}  "},
    ],
)
def test_raw_key_or_bearer_in_any_header_case_is_accepted(headers: dict[str, str]) -> None:
    answer = authorize({"Content-Type": "application/json", **headers})
    assert answer["principalId"] == API_KEY_ID
    assert answer["context"] == {"key_id": API_KEY_ID}


def test_policy_allows_the_whole_stage() -> None:
    answer = authorize({"Authorization": API_KEY})
    [statement] = answer["policyDocument"]["Statement"]
    assert statement == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": STAGE}
    assert METHOD_ARN.startswith(STAGE[:-3])


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(None, id="no-headers"),
        pytest.param({}, id="empty-headers"),
        pytest.param({"X-Other": API_KEY}, id="other-header"),
        pytest.param({"Authorization": ""}, id="empty"),
        pytest.param({"Authorization": "   "}, id="blank"),
        pytest.param({"Authorization": "Bearer"}, id="bearer-only"),
        pytest.param({"Authorization": "Bearer "}, id="bearer-space"),
        pytest.param({"Authorization": "wrong-key-0123456789abcdefghij"}, id="wrong"),
        pytest.param({"Authorization": API_KEY[:-1] + "X"}, id="last-char-off"),
        pytest.param({"Authorization": "X" + API_KEY[1:]}, id="first-char-off"),
        pytest.param({"Authorization": API_KEY[:-1]}, id="one-char-short"),
        pytest.param({"Authorization": API_KEY + "x"}, id="one-char-long"),
        pytest.param({"Authorization": API_KEY.upper()}, id="wrong-case"),
        pytest.param({"Authorization": API_KEY * 20}, id="oversized"),
        pytest.param({"Authorization": "x" * 100_000}, id="huge"),
        pytest.param({"Authorization": f"Basic {API_KEY}"}, id="basic-scheme"),
        pytest.param({"Authorization": f"Token {API_KEY}"}, id="token-scheme"),
        pytest.param({"Authorization": f"Bearer Bearer {API_KEY}"}, id="double-bearer"),
        pytest.param({"Authorization": API_KEY_ID}, id="key-id-instead-of-key"),
        pytest.param({"Authorization": "\udcff" + API_KEY}, id="undecodable"),
    ],
)
def test_every_wrong_key_gets_the_same_unauthorized(headers: dict[str, str] | None) -> None:
    assert_unauthorized(refused(headers))


def test_non_string_header_value_is_unauthorized() -> None:
    assert_unauthorized(refused({"Authorization": None}))  # type: ignore[dict-item]


@pytest.mark.parametrize("env", [{"API_KEY_HEADER": "X-Api-Key"}])
def test_header_name_is_configurable() -> None:
    assert authorize({"x-api-key": API_KEY})["principalId"] == API_KEY_ID
    assert authorize({"X-API-KEY": f"Bearer {API_KEY}"})["principalId"] == API_KEY_ID
    # The default header no longer counts
    assert_unauthorized(refused({"Authorization": API_KEY}))


def test_two_active_keys_both_work_during_rotation() -> None:
    set_api_keys({"keys": [{"id": "old", "key": API_KEY}, {"id": "new", "key": SECOND_KEY}]})
    assert authorize({"Authorization": API_KEY})["context"] == {"key_id": "old"}
    assert authorize({"Authorization": f"Bearer {SECOND_KEY}"})["context"] == {"key_id": "new"}
    assert_unauthorized(refused({"Authorization": "third-key-0123456789abcdefghijkl"}))


def test_retired_key_stops_working() -> None:
    set_api_keys(
        {"keys": [{"id": "old", "key": API_KEY, "active": False}, {"id": "new", "key": SECOND_KEY}]}
    )
    assert_unauthorized(refused({"Authorization": API_KEY}))
    assert authorize({"Authorization": SECOND_KEY})["principalId"] == "new"


def test_single_key_secret_as_the_stack_generates_it() -> None:
    set_api_keys({"id": "generated", "key": SECOND_KEY})
    assert authorize({"Authorization": SECOND_KEY})["principalId"] == "generated"


def test_weak_key_in_the_secret_never_opens_the_api() -> None:
    set_api_keys({"keys": [{"id": "weak", "key": "short"}, {"id": "empty", "key": ""}]})
    assert_unauthorized(refused({"Authorization": "short"}))
    assert_unauthorized(refused({"Authorization": ""}))


def test_every_active_key_is_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    set_api_keys({"keys": [{"id": "a", "key": API_KEY}, {"id": "b", "key": SECOND_KEY}]})
    compared: list[bytes] = []
    real = hmac.compare_digest

    def spy(presented: Any, candidate: Any) -> bool:
        compared.append(candidate)
        return real(presented, candidate)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    # A match on the first key still compares the second (no early exit to time)
    assert authorize({"Authorization": API_KEY})["principalId"] == "a"
    assert compared == [API_KEY.encode(), SECOND_KEY.encode()]


@pytest.mark.parametrize("env", [{"API_KEYS_SECRET_ID": "giftcards/missing"}])
def test_unreadable_key_secret_is_not_unauthorized() -> None:
    # Secrets Manager failing must not look like a wrong key: API Gateway answers 503.
    error = failed({"Authorization": API_KEY})
    assert isinstance(error, RetryError)
    assert str(error) != "Unauthorized"


def test_refusals_do_not_log_the_presented_key() -> None:
    from tests.support.calls import CapturedLogs, find_secrets

    with CapturedLogs() as logs:
        refused({"Authorization": API_KEY + "x"})
        authorize({"Authorization": API_KEY})
    assert logs.records
    assert find_secrets(logs.text) == []  # the API key (and so any key containing it)
