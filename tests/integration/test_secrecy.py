"""What a dump of the table shows after real traffic: no card number, PIN, customer e-mail or
name, no API key and no readable response body (design: "Data model"). And the ledger holds:
for every card, balance + held == sum of its entries."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.calls import (
    SECRETS,
    Secrets,
    assert_ledger_consistent,
    card_number,
    find_secrets_in_items,
    invoke,
    load_stock,
)

pytestmark = pytest.mark.usefixtures("ledger_checked")

CUSTOMER = {"id": "64810476", "email": "jay.doubleyou@example.com", "name": "Jay Doubleyou"}
#: Text that would betray a response body or customer record stored in clear.
CLEAR_MARKERS = ('"identifier"', '"deactivated_at"', '"error_code"', '"value"', '"email"')


def run_traffic(services: Any) -> None:
    """Every webhook, success and refusal, with keys and without, replays included."""

    def call(name: str, body: Any) -> Any:
        return invoke(name, body, services=services)

    SECRETS.add("customer name", CUSTOMER["name"])
    issued = call(
        "issue",
        {
            "amount": {"value": 80, "currency": "USD"},
            "customer": CUSTOMER,
            "metadata": {"original_operation": "refund", "store_id": "store-1"},
            "idempotence_key": "issue-1",
        },
    )
    assert issued.status == 200
    call(
        "issue",
        {
            "amount": {"value": 81, "currency": "USD"},
            "customer": CUSTOMER,
            "idempotence_key": "issue-1",
        },
    )
    keyless = call("issue", {"amount": {"value": 15, "currency": "EUR"}, "customer": CUSTOMER})
    number, pin = issued.json["identifier"]["number"], issued.json["identifier"]["pin"]
    other, other_pin = keyless.json["identifier"]["number"], keyless.json["identifier"]["pin"]

    stock = [(card_number(9101), "918273"), (card_number(9102), "5555"), (card_number(9103), None)]
    load_stock(stock)
    for index, (stock_number, _pin) in enumerate(stock):
        activation = {
            "card_number": stock_number,
            "amount": {"value": 10 + index, "currency": "USD"},
            "customer": CUSTOMER,
            "idempotence_key": f"act-{index}",
        }
        assert call("activate", activation).status == 200
        call("activate", activation)
    call(
        "activate",
        {
            "card_number": card_number(9199),
            "amount": {"value": 1, "currency": "USD"},
            "idempotence_key": "nf",
        },
    )

    call("balance", {"identifier": {"number": number, "pin": pin}})
    call("balance", {"identifier": {"number": stock[0][0], "pin": "918273"}})
    for _ in range(5):
        call("balance", {"identifier": {"number": other, "pin": "99999"}})
    call("balance", {"identifier": {"number": other, "pin": other_pin}})

    call("deactivate", {"card_number": number, "pin": pin, "idempotence_key": "d-1"})
    call("deactivate", {"card_number": number, "pin": pin, "idempotence_key": "d-1"})
    call("deactivate", {"card_number": stock[1][0], "pin": "0000", "idempotence_key": "d-2"})
    call("deactivate", {"card_number": stock[2][0]})


def test_table_holds_no_card_number_pin_customer_data_or_clear_body(
    services: Any, repository: Any
) -> None:
    # Given real traffic through every webhook
    run_traffic(services)
    items = list(repository.scan_all())
    # The scan is meaningful: cards, ledger entries and stored answers exist, and the test knows
    # the numbers, PINs and customer data it used
    kinds = {item.get("type") for item in items}
    assert {"card", "entry", "record"} <= kinds
    labels = " ".join(SECRETS.values.values())
    assert labels.count("card number #") >= 6
    assert labels.count("PIN #") >= 5
    assert "e-mail" in labels
    assert "customer name" in labels
    # Then no attribute of any item contains any of them
    assert find_secrets_in_items(items, SECRETS) == []
    # And no attribute is a readable response body or customer record
    for item in items:
        for name, value in item.items():
            raw = getattr(value, "value", value)
            text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
            assert not any(marker in text for marker in CLEAR_MARKERS), (item["type"], name)


def test_ledger_invariant_holds_after_traffic(services: Any, repository: Any) -> None:
    run_traffic(services)
    assert assert_ledger_consistent(repository) == 5  # 2 issued + 3 printed


def test_table_scanner_finds_planted_secrets(services: Any, repository: Any) -> None:
    # The check above is only worth something if it can fail: plant clear data and look for it.
    secrets = Secrets()
    number = card_number(4242)
    secrets.add_card(number, "4821")
    secrets.add("e-mail", "someone@example.com")
    from giftcard import aws

    client = aws.client("dynamodb")
    planted = [
        {"PK": {"S": "X#1"}, "SK": {"S": "A"}, "type": {"S": "leak"}, "n": {"S": number}},
        {"PK": {"S": "X#2"}, "SK": {"S": "A"}, "type": {"S": "leak"}, "p": {"S": "4821"}},
        {
            "PK": {"S": "X#3"},
            "SK": {"S": "A"},
            "type": {"S": "leak"},
            "b": {"B": b'{"pin": "4821"}'},
        },
        {
            "PK": {"S": "X#4"},
            "SK": {"S": "A"},
            "type": {"S": "leak"},
            "e": {"S": "someone@example.com"},
        },
        {"PK": {"S": "X#5"}, "SK": {"S": "A"}, "type": {"S": "leak"}, "d": {"N": number}},
    ]
    for item in planted:
        client.put_item(TableName=repository.table_name, Item=item)
    found = find_secrets_in_items(repository.scan_all(), secrets)
    assert sorted(found) == sorted(
        [
            "card number #1 in leak.n",
            "PIN #1 in leak.p",
            "PIN #1 in leak.b",
            "e-mail #1 in leak.e",
            "card number #1 in leak.d",
        ]
    )


@pytest.mark.parametrize(
    "body",
    [
        {"identifier": {"number": card_number(77), "pin": "9" * 70}},
        {
            "identifier": {
                "number": "7777 0000 1111 2222 3333 4444 5555 6666 7777 8888 9999 0000 12"
            }
        },
        {"identifier": {"number": card_number(78), "pin": 4821}},
    ],
)
def test_error_messages_never_echo_the_number_or_pin(services: Any, body: Any) -> None:
    answer = invoke("balance", body, services=services)
    assert answer.status == 400
    number = body["identifier"]["number"]
    assert number not in answer.body
    assert number.replace(" ", "") not in answer.body
    assert str(body["identifier"].get("pin", "no-pin")) not in answer.body
