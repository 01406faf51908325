"""Printed stock end to end: imported inactive, activated through the webhook, then the printed
PIN guards the balance."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.calls import card_number, invoke, load_stock

pytestmark = pytest.mark.usefixtures("ledger_checked")


def test_printed_pin_guards_the_balance_after_activation(services: Any) -> None:
    # Given printed stock with PIN 7294, imported and activated
    number = card_number(1234567)
    load_stock([(number, "7294")])
    activated = invoke(
        "activate",
        {"card_number": number, "amount": {"value": 60, "currency": "GBP"}},
        services=services,
    )
    assert activated.status == 200

    def balance(pin: str | None) -> Any:
        identifier = {"number": number, **({"pin": pin} if pin else {})}
        return invoke("balance", {"identifier": identifier}, services=services)

    # Then the printed PIN opens it, and nothing else does
    assert (balance("7294").status, balance("7294").body) == (
        200,
        '{"value": 60, "currency": "GBP"}',
    )
    assert balance("7295").error_code == "invalid_card"
    assert balance(None).error_code == "invalid_card"


def test_reimported_stock_keeps_its_money(services: Any) -> None:
    number = card_number(1234568)
    load_stock([(number, "1357")])
    invoke(
        "activate",
        {"card_number": number, "amount": {"value": 60, "currency": "USD"}},
        services=services,
    )
    report = load_stock([(number, "9999")])
    assert (report.created, report.existing) == (0, 1)
    answer = invoke("balance", {"identifier": {"number": number, "pin": "1357"}}, services=services)
    assert answer.json == {"value": 60, "currency": "USD"}
