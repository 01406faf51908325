"""What the service logs (Powertools JSON lines): useful fields, and never a full card number,
PIN, API key or e-mail (house style 6). Every integration test is also scanned automatically by
the ``no_secrets_leak`` fixture in tests/conftest.py; these tests show the scan works."""

from __future__ import annotations

from typing import Any

from tests.support.calls import (
    SECRETS,
    CapturedLogs,
    Secrets,
    card_number,
    find_secrets,
    invoke,
    issue_card,
    load_stock,
)


def test_logs_of_a_card_life_name_the_card_by_its_last_four_digits_only(services: Any) -> None:
    with CapturedLogs() as logs:
        number, pin = issue_card(services=services, customer={"email": "jay@example.com"})
        invoke("balance", {"identifier": {"number": number, "pin": pin}}, services=services)
        for _ in range(5):
            invoke("balance", {"identifier": {"number": number, "pin": "x1"}}, services=services)
        invoke("deactivate", {"card_number": number}, services=services)
    records = logs.records
    # The logs say what happened, per request, with the card's last 4 digits
    messages = logs.messages()
    assert "card issued" in messages
    assert "card deactivated" in messages
    assert any("locked" in message for message in logs.messages("WARNING"))
    assert {r.get("card_last4") for r in records if "card_last4" in r} == {number[-4:]}
    assert all(r.get("request_id") for r in records if r.get("message") == "request answered")
    # And nothing secret
    assert find_secrets(logs.text, SECRETS) == []


def test_stock_and_activation_logs_hold_no_pin(services: Any) -> None:
    number = card_number(5501)
    with CapturedLogs() as logs:
        load_stock([(number, "246813")])
        invoke(
            "activate",
            {"card_number": number, "amount": {"value": 5, "currency": "USD"}},
            services=services,
        )
        invoke("balance", {"identifier": {"number": number, "pin": "246813"}}, services=services)
    assert logs.records
    assert find_secrets(logs.text, SECRETS) == []


def test_log_scanner_finds_planted_secrets() -> None:
    secrets = Secrets()
    secrets.add_card("7777000011112222", "4821")
    line = (
        '{"level":"INFO","message":"%s","timestamp":"2027-01-15 08:00:00,482+0000",'
        '"request_id":"4821abcd-4821-4821-4821-482148214821","card_last4":"4821"}'
    )
    # Clean: the PIN's digits only appear as parts of the timestamp, UUID and last-4 field
    assert find_secrets(line % "balance answered", secrets) == []
    # Leaks are found, and named by kind only
    assert find_secrets(line % "pin 4821 refused", secrets) == ["PIN #1"]
    assert find_secrets(line % "card 7777000011112222", secrets) == ["card number #1"]
    assert find_secrets(line % "mail jay@example.com", secrets) == ["an e-mail address"]
    from tests.support.aws import API_KEY

    assert find_secrets(f"Authorization: Bearer {API_KEY}", secrets) == ["API key"]
    assert find_secrets("plain text pin=4821", secrets) == ["PIN #1"]
