"""The synthetic canary's handler (canary/handler.py): a right balance passes; anything else is a
failure (a function error, which the CanaryFailed alarm counts) that names no card, PIN or key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from canary import handler

NUMBER, PIN, KEY = "7777000011112222", "4125", "canary-api-key-0123456789abcdef"
SECRETS = {
    "arn:keys": {"id": "key-1", "key": KEY},
    "arn:card": {"number": NUMBER, "pin": PIN},
}


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_URL", "https://giftcards.example.com/v1/")
    monkeypatch.setenv("API_KEYS_SECRET_ID", "arn:keys")
    monkeypatch.setenv("CANARY_CARD_SECRET_ID", "arn:card")
    monkeypatch.setenv("API_KEY_HEADER", "Authorization")


def call(status: int, body: Any, secrets: dict[str, Any] = SECRETS) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    def post(url: str, data: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
        sent.append({"url": url, "body": json.loads(data), "headers": headers})
        return status, json.dumps(body).encode()

    handler.lambda_handler({}, None, post=post, read_secret=secrets.__getitem__)
    return sent


def test_a_right_balance_passes_asked_as_newstore_asks(capsys: pytest.CaptureFixture[str]) -> None:
    (sent,) = call(200, {"value": 25, "currency": "USD"})
    assert sent["url"] == "https://giftcards.example.com/v1/gift_card/balance"
    assert sent["body"] == {"identifier": {"number": NUMBER, "pin": PIN}}
    assert sent["headers"]["Authorization"] == KEY
    out = capsys.readouterr().out
    assert NUMBER not in out and PIN not in out and KEY not in out


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, {"error_code": "unauthorized", "message": "x"}, "401 unauthorized"),
        (400, {"error_code": "invalid_card", "message": "x"}, "400 invalid_card"),
        (503, {"error_code": "retry_error", "message": "x"}, "503 retry_error"),
        (502, "not json", "502"),
        (200, {"unexpected": True}, "without a balance"),
    ],
)
def test_anything_else_fails_naming_no_secret(status: int, body: Any, message: str) -> None:
    with pytest.raises(handler.CanaryFailed, match=message) as failed:
        call(status, body)
    for secret in (NUMBER, PIN, KEY):
        assert secret not in str(failed.value)


def test_an_unset_canary_card_fails_with_a_pointer_to_the_docs() -> None:
    with pytest.raises(handler.CanaryFailed, match="no card number yet"):
        call(200, {}, {**SECRETS, "arn:card": {"number": "", "pin": ""}})


def test_rotation_secret_form_uses_an_active_key() -> None:
    keys = {"keys": [{"id": "old", "key": "old-key", "active": False}, {"id": "new", "key": KEY}]}
    (sent,) = call(200, {"value": 0, "currency": "EUR"}, {**SECRETS, "arn:keys": keys})
    assert sent["headers"]["Authorization"] == KEY
