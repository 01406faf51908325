"""The back office's customer index and erasure, and a card's history page by page, on moto.

The customer index holds a keyed hash of the customer id, never the id; erasure removes the
customer and the index key from every card of the customer and records it, leaving balances and
the ledger as they were."""

from __future__ import annotations

from typing import Any

import pytest

from giftcard.items import card_pk
from tests.support.calls import (
    Secrets,
    card_number,
    find_secrets_in_items,
    invoke,
    issue_card,
    load_stock,
)
from tests.support.operator import ANA, BEN, Operator

pytestmark = pytest.mark.usefixtures("ledger_checked")

JAY = {"id": "64810476", "name": "Jay Doubleyou", "email": "jay@example.com"}
KIM = {"id": "70011942", "name": "Kim Other", "email": "kim@example.com"}


@pytest.fixture
def operator(services: Any) -> Operator:
    return Operator(services)


def test_a_customers_cards_are_found_by_the_customer_id(
    services: Any, operator: Operator, clock: Any
) -> None:
    # Given two issued cards of Jay, a stock card activated for Jay, and Kim's card
    first, _ = issue_card(20, services=services, customer=JAY)
    clock.advance(1)
    issue_card(30, services=services, customer=KIM)
    clock.advance(1)
    stock = card_number(5001)
    load_stock([(stock, None)])
    activation = {
        "card_number": stock,
        "amount": {"value": 40, "currency": "USD"},
        "customer": {"id": JAY["id"]},
    }
    assert invoke("activate", activation, services=services).status == 200
    clock.advance(1)
    issue_card(10, services=services, customer={"email": "no-id@example.com"})  # not indexed
    # When support asks for Jay's cards
    answer = operator.ok("customers_cards", {"customer_id": JAY["id"]})
    # Then both are there, oldest first, with what each card holds of Jay
    cards = {card["balance"]["value"]: card for card in answer["cards"]}
    assert set(cards) == {20, 40}
    assert [card["created_at"] for card in answer["cards"]] == sorted(
        card["created_at"] for card in answer["cards"]
    )
    assert cards[20]["customer"] == JAY
    assert cards[40]["customer"] == {"id": JAY["id"], "name": None, "email": None}
    assert cards[20]["card_id"] == operator.ok("lookup", {"number": first})["card"]["card_id"]
    assert operator.ok("customers_cards", {"customer_id": "nobody"}) == {"cards": []}


def test_the_table_never_holds_a_customer_in_clear(services: Any, operator: Operator) -> None:
    issue_card(20, services=services, customer=JAY)
    operator.ok("customers_cards", {"customer_id": JAY["id"]})
    secrets = Secrets()
    for kind, value in (("customer id", JAY["id"]), ("name", JAY["name"])):
        secrets.add(kind, value)
    secrets.add("e-mail", JAY["email"])
    assert find_secrets_in_items(services.repository.scan_all(), secrets) == []


def test_erasure_removes_the_customer_from_every_card_and_records_it(
    services: Any, clock: Any
) -> None:
    first, pin = issue_card(20, services=services, customer=JAY)
    second, _ = issue_card(30, services=services, customer=JAY)
    kims, _ = issue_card(30, services=services, customer=KIM)
    clock.advance(5)
    finance = Operator(services, actor=BEN)
    reason = "erasure request by e-mail, ticket SR-2291"
    answer = finance.ok("customers_erase", {"customer_id": JAY["id"], "reason": reason})
    assert answer == {"erased_cards": 2}
    support = Operator(services, actor=ANA)
    for number, value in ((first, 20), (second, 30)):
        card = support.ok("lookup", {"number": number})["card"]
        assert card["customer"] is None and card["balance"]["value"] == value
        entries = support.ok("history", {"number": number})["entries"]
        assert [e["kind"] for e in entries] == ["customer_erased", "issue"]
        assert (entries[0]["actor"], entries[0]["reason"]) == (BEN, reason)
        assert entries[0]["created_at"] == "2027-01-15T08:00:05Z"
    assert support.ok("customers_cards", {"customer_id": JAY["id"]}) == {"cards": []}
    # Kim is untouched, the cards still work, and erasing again finds nothing
    assert support.ok("lookup", {"number": kims})["card"]["customer"] == KIM
    balance = invoke("balance", {"identifier": {"number": first, "pin": pin}}, services=services)
    assert balance.status == 200
    assert finance.ok("customers_erase", {"customer_id": JAY["id"], "reason": reason}) == {
        "erased_cards": 0
    }
    # Nothing of Jay is left on the cards (sealed or indexed)
    keys = services.context("r", "k").keys
    for number in (first, second):
        item = next(
            item
            for item in services.repository.scan_all()
            if item["PK"] == card_pk(keys.card_lookup(number)) and item["SK"] == "CARD"
        )
        assert "customer" not in item and "customer_key" not in item


def test_erasure_needs_a_reason(services: Any, operator: Operator) -> None:
    issue_card(20, services=services, customer=JAY)
    answer = operator.call("customers_erase", {"customer_id": JAY["id"]})
    assert answer.error_code == "invalid_request"
    assert operator.ok("customers_cards", {"customer_id": JAY["id"]})["cards"][0]["customer"]


# History -----------------------------------------------------------------------------------------


def test_history_pages_newest_first_until_no_cursor_is_left(
    services: Any, operator: Operator, clock: Any
) -> None:
    number, _pin = issue_card(50, services=services)
    for index in range(6):
        clock.advance(1)
        body = {
            "number": number,
            "amount": {"value": index + 1, "currency": "USD"},
            "reason": f"correction {index}",
            "idempotency_key": f"h-{index}",
        }
        operator.ok("adjust", body)
    everything = operator.ok("history", {"number": number, "limit": 200})
    assert everything["next_cursor"] is None
    assert [e["kind"] for e in everything["entries"]] == ["adjust"] * 6 + ["issue"]
    times = [e["created_at"] for e in everything["entries"]]
    assert times == sorted(times, reverse=True)
    pages: list[list[str]] = []
    cursor = None
    while True:
        body: dict[str, Any] = {"number": number, "limit": 3}
        if cursor is not None:
            body["cursor"] = cursor
        page = operator.ok("history", body)
        pages.append([e["entry_id"] for e in page["entries"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [entry for page in pages for entry in page] == [
        e["entry_id"] for e in everything["entries"]
    ]
    # The default page is 50 entries; a page of exactly what is left says there is no more
    assert operator.ok("history", {"number": number, "limit": 7})["next_cursor"] is None


@pytest.mark.parametrize(
    "fields",
    [{"limit": 0}, {"limit": 201}, {"limit": 2.5}, {"limit": "5"}, {"cursor": "bm9wZQ"}],
    ids=["zero", "over-200", "fraction", "string", "foreign-cursor"],
)
def test_history_refuses_bad_limits_and_cursors(
    services: Any, operator: Operator, fields: dict[str, Any]
) -> None:
    number, _pin = issue_card(50, services=services)
    answer = operator.call("history", {"number": number, **fields})
    assert (answer.status, answer.error_code) == (400, "invalid_request")
