"""The back office's card operations on moto, called as their handlers will call them
(``tests/support/operator.py``): lookup, freeze and unfreeze (and the webhooks honouring the
block), unlock PIN, adjust, expiry. Every test ends with the ledger invariant (value == sum of
the ledger, entries chain) and the log scan (no number, PIN or e-mail)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from tests.support.calls import (
    CapturedLogs,
    DynamoCalls,
    card_number,
    invoke,
    issue_card,
    load_stock,
    lose_response_once,
)
from tests.support.operator import ANA, BEN, Operator

pytestmark = pytest.mark.usefixtures("ledger_checked")

CUSTOMER = {"id": "64810476", "name": "Jay Doubleyou", "email": "jay@example.com"}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def operator(services: Any) -> Operator:
    return Operator(services)


def wrong_pin(pin: str) -> str:
    return "0000" if pin != "0000" else "1111"


def balance(services: Any, number: str, pin: str | None) -> Any:
    identifier = {"number": number} if pin is None else {"number": number, "pin": pin}
    return invoke("balance", {"identifier": identifier}, services=services)


def reserve(services: Any, number: str, pin: str, value: Any, key: str) -> Any:
    body = {
        "idempotency_key": key,
        "instrument": {"number": number, "pin": pin},
        "amount": value,
        "currency": "USD",
    }
    return invoke("instrument_create", body, services=services)


def command(services: Any, operation: str, instrument_id: str, key: str, **fields: Any) -> Any:
    return invoke(
        f"instrument_{operation}",
        {"idempotency_key": key, **fields},
        services=services,
        path_parameters={"instrument_id": instrument_id},
    )


def history(operator: Operator, number: str, **fields: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = operator.ok("history", {"number": number, **fields})["entries"]
    return entries


# Lookup ----------------------------------------------------------------------------------------


def test_lookup_shows_the_card_as_the_contract_writes_it(
    services: Any, operator: Operator, clock: Any
) -> None:
    # Given an issued card with a customer and a reservation on it
    number, pin = issue_card(100, services=services, customer=CUSTOMER)
    clock.advance(60)
    assert reserve(services, number, pin, 30, "r-1").status == 200
    # When support looks it up by its number
    card = operator.ok("lookup", {"number": number})["card"]
    # Then every field of the contract's Card is there, and the number is not
    assert list(card) == [
        "card_id",
        "last4",
        "state",
        "currency",
        "balance",
        "held",
        "frozen",
        "pin",
        "created_at",
        "activated_at",
        "deactivated_at",
        "expires_at",
        "last_activity_at",
        "open_reservations",
        "customer",
    ]
    assert card["card_id"].startswith("c_") and number not in str(card)
    assert card["last4"] == number[-4:]
    assert (card["state"], card["currency"]) == ("active", "USD")
    assert card["balance"] == {"value": Decimal(70), "currency": "USD"}
    assert card["held"] == {"value": Decimal(30), "currency": "USD"}
    assert card["frozen"] is None
    assert card["pin"] == {
        "has_pin": True,
        "failures": 0,
        "locked_until": None,
        "hard_locked": False,
    }
    assert ISO_Z.match(card["created_at"]) and card["activated_at"] == card["created_at"]
    assert card["deactivated_at"] is None and card["expires_at"] is None
    assert card["last_activity_at"] == "2027-01-15T08:01:00Z"  # the reservation
    assert card["open_reservations"] == 1
    assert card["customer"] == CUSTOMER
    # And its card_id finds the same card
    assert operator.ok("lookup", {"card_id": card["card_id"]})["card"] == card


def test_unactivated_stock_has_no_currency_or_amounts(operator: Operator) -> None:
    number = card_number(4001)
    load_stock([(number, "4125")])
    card = operator.ok("lookup", {"number": f" {number[:4]} {number[4:8]}-{number[8:]} "})["card"]
    assert (card["state"], card["currency"], card["balance"], card["held"]) == (
        "inactive",
        None,
        None,
        None,
    )
    assert card["customer"] is None and card["last_activity_at"] is None
    assert card["open_reservations"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"number": card_number(999_001)},  # plausible, unknown
        {"number": "12"},  # cannot be a card
        {"card_id": "c_" + "0" * 64},
        {"card_id": "not-a-card-id"},
    ],
    ids=["unknown-number", "implausible-number", "unknown-card-id", "foreign-card-id"],
)
def test_an_unknown_card_is_404_card_not_found(operator: Operator, body: dict[str, str]) -> None:
    for name in ("lookup", "history", "freeze", "unlock_pin"):
        answer = operator.call(name, {**body, "reason": "customer called"})
        assert (answer.status, answer.error_code) == (404, "card_not_found"), name


def test_a_card_is_named_by_number_or_card_id_never_both(services: Any, operator: Operator) -> None:
    number, _pin = issue_card(services=services)
    cid = operator.ok("lookup", {"number": number})["card"]["card_id"]
    for body in ({}, {"number": number, "card_id": cid}):
        answer = operator.call("lookup", body)
        assert (answer.status, answer.error_code) == (400, "invalid_request")
        assert number not in answer.body


def test_every_operation_refuses_a_caller_without_an_identity(services: Any) -> None:
    # The gateway's IAM authorization names the caller; without it nothing is done or shown.
    number, _pin = issue_card(services=services)
    nobody = Operator(services, actor="")
    for name in ("lookup", "freeze"):
        answer = nobody.call(name, {"number": number, "reason": "no one asked"})
        assert (answer.status, answer.error_code) == (403, "forbidden")
    assert Operator(services).ok("lookup", {"number": number})["card"]["frozen"] is None


# Freeze ----------------------------------------------------------------------------------------


def test_freeze_records_who_why_and_when_and_a_second_freeze_changes_nothing(
    services: Any, clock: Any
) -> None:
    number, _pin = issue_card(services=services)
    clock.advance(10)
    card = Operator(services, actor=ANA).ok("freeze", {"number": number, "reason": "stolen"})
    assert card["card"]["frozen"] == {"reason": "stolen", "by": ANA, "at": "2027-01-15T08:00:10Z"}
    assert card["card"]["state"] == "active"  # a flag beside the state, not a state
    clock.advance(10)
    again = Operator(services, actor=BEN).ok("freeze", {"number": number, "reason": "again"})
    assert again == card  # unchanged: the first freeze's reason and operator stay
    kinds = [entry["kind"] for entry in history(Operator(services), number)]
    assert kinds == ["freeze", "issue"]


def test_a_frozen_card_refuses_balance_and_reservations_after_the_pin(
    services: Any, operator: Operator
) -> None:
    number, pin = issue_card(100, services=services)
    operator.ok("freeze", {"number": number, "reason": "reported stolen"})
    # Balance: a proven PIN learns the card is blocked; a wrong one learns nothing
    answer = balance(services, number, pin)
    assert (answer.status, answer.error_code) == (400, "card_frozen")
    assert answer.json["message"] == "This card is blocked; contact customer service."
    assert balance(services, number, wrong_pin(pin)).error_code == "invalid_card"
    # Reserve: NewStore's one refusal code
    assert reserve(services, number, pin, 10, "r-frozen").error_code == "instrument_error"
    # Unfrozen, the card works again
    operator.ok("unfreeze", {"number": number, "reason": "found by the customer"})
    assert balance(services, number, pin).status == 200
    assert reserve(services, number, pin, 10, "r-open").status == 200


def test_a_frozen_stock_card_cannot_be_activated(services: Any, operator: Operator) -> None:
    number = card_number(4002)
    load_stock([(number, None)])
    operator.ok("freeze", {"number": number, "reason": "box stolen from the store"})
    body = {"card_number": number, "amount": {"value": 25, "currency": "USD"}}
    answer = invoke("activate", body, services=services)
    assert (answer.status, answer.error_code) == (400, "card_frozen")
    card = operator.ok("lookup", {"number": number})["card"]
    assert (card["state"], card["balance"]) == ("inactive", None)
    operator.ok("unfreeze", {"number": number, "reason": "box found"})
    assert invoke("activate", body, services=services).status == 200


def test_money_reserved_before_a_freeze_can_still_be_captured_revoked_and_refunded(
    services: Any, operator: Operator
) -> None:
    number, pin = issue_card(100, services=services)
    first = reserve(services, number, pin, 40, "r-1").json["identifier"]
    second = reserve(services, number, pin, 20, "r-2").json["identifier"]
    operator.ok("freeze", {"number": number, "reason": "fraud suspected"})
    assert command(services, "capture", first, "c-1", amount=40, currency="USD").status == 200
    assert command(services, "revoke", second, "v-1").status == 200
    assert command(services, "refund", first, "f-1", amount=15, currency="USD").status == 200
    card = operator.ok("lookup", {"number": number})["card"]
    # 100 - 40 captured + 15 refunded; nothing held, and still frozen
    assert card["balance"]["value"] == 75 and card["held"]["value"] == 0
    assert card["frozen"] is not None and card["open_reservations"] == 0


def test_a_frozen_card_can_still_be_deactivated(services: Any, operator: Operator) -> None:
    number, pin = issue_card(100, services=services)
    operator.ok("freeze", {"number": number, "reason": "reported stolen"})
    answer = invoke("deactivate", {"card_number": number, "pin": pin}, services=services)
    assert answer.status == 200
    card = operator.ok("lookup", {"number": number})["card"]
    assert card["state"] == "deactivated" and card["balance"]["value"] == 0


def test_the_webhooks_round_trips_do_not_change_for_the_frozen_check(
    services: Any, operator: Operator
) -> None:
    # The flag is read with the card the webhooks read anyway: no call is added.
    number, pin = issue_card(services=services)
    operator.ok("freeze", {"number": number, "reason": "reported stolen"})
    with DynamoCalls() as calls:
        assert balance(services, number, pin).error_code == "card_frozen"
    assert calls.operations == ["UpdateItem", "UpdateItem"]  # charge the guess, reset it
    stock = card_number(4003)
    load_stock([(stock, None)])
    operator.ok("freeze", {"number": stock, "reason": "box stolen"})
    body = {"card_number": stock, "amount": {"value": 5, "currency": "USD"}}
    with DynamoCalls() as calls:
        assert invoke("activate", body, services=services).error_code == "card_frozen"
    assert calls.operations == ["TransactWriteItems"]


def test_a_freeze_whose_answer_was_lost_is_recorded_once(services: Any, operator: Operator) -> None:
    number, _pin = issue_card(services=services)
    with lose_response_once() as lost:
        card = operator.ok("freeze", {"number": number, "reason": "reported stolen"})["card"]
    assert lost.fired == 1 and card["frozen"]["reason"] == "reported stolen"
    assert [e["kind"] for e in history(operator, number)] == ["freeze", "issue"]


# Unlock PIN ------------------------------------------------------------------------------------


def test_unlock_pin_clears_a_hard_lock(services: Any, operator: Operator, clock: Any) -> None:
    number, pin = issue_card(services=services)
    for lock_minutes in (15, 30, 60, 120, 0):
        for _ in range(5):
            assert balance(services, number, wrong_pin(pin)).error_code == "invalid_card"
        clock.advance(lock_minutes * 60)
    clock.advance(3 * 86400)
    assert balance(services, number, pin).error_code == "invalid_card"  # hard locked
    status = operator.ok("lookup", {"number": number})["card"]["pin"]
    assert status["hard_locked"] is True and status["failures"] == 5
    card = operator.ok("unlock_pin", {"number": number, "reason": "holder verified by phone"})
    assert card["card"]["pin"] == {
        "has_pin": True,
        "failures": 0,
        "locked_until": None,
        "hard_locked": False,
    }
    assert balance(services, number, pin).status == 200
    # Nothing left to clear: unchanged, no second entry
    operator.ok("unlock_pin", {"number": number, "reason": "holder verified by phone"})
    assert [e["kind"] for e in history(operator, number)] == ["unlock_pin", "issue"]


def test_lookup_shows_a_running_lock(services: Any, operator: Operator) -> None:
    number, pin = issue_card(services=services)
    for _ in range(5):
        balance(services, number, wrong_pin(pin))
    status = operator.ok("lookup", {"number": number})["card"]["pin"]
    assert status == {
        "has_pin": True,
        "failures": 5,
        "locked_until": "2027-01-15T08:15:00Z",
        "hard_locked": False,
    }


# Adjust ----------------------------------------------------------------------------------------


def adjust_body(number: str, value: Any, key: str, currency: str = "USD") -> dict[str, Any]:
    return {
        "number": number,
        "amount": {"value": Decimal(str(value)), "currency": currency},
        "reason": "goodwill after a failed order",
        "idempotency_key": key,
    }


def test_adjust_moves_the_spendable_balance_and_records_an_entry(services: Any, clock: Any) -> None:
    number, pin = issue_card(50, services=services)
    clock.advance(5)
    finance = Operator(services, actor=BEN)
    answer = finance.ok("adjust", adjust_body(number, "12.5", "a-1"))
    assert answer["card"]["balance"] == {"value": Decimal("62.5"), "currency": "USD"}
    entry = answer["entry"]
    assert entry["kind"] == "adjust"
    assert entry["amount"] == {"value": Decimal("12.5"), "currency": "USD"}
    assert entry["balance_after"] == {"value": Decimal("62.5"), "currency": "USD"}
    assert (entry["actor"], entry["reason"]) == (BEN, "goodwill after a failed order")
    assert entry["created_at"] == "2027-01-15T08:00:05Z"
    assert entry["request_id"] == finance.request_ids[-1]
    assert balance(services, number, pin).json["value"] == Decimal("62.5")
    taken = finance.ok("adjust", adjust_body(number, "-62.5", "a-2"))
    assert taken["card"]["balance"]["value"] == 0
    assert taken["entry"]["amount"]["value"] == Decimal("-62.5")


def test_adjust_is_idempotent_by_its_key(services: Any, operator: Operator) -> None:
    number, _pin = issue_card(50, services=services)
    first = operator.call("adjust", adjust_body(number, 10, "same-key"))
    # The same key replays the first answer byte for byte, whatever the new parameters
    again = operator.call("adjust", adjust_body(number, -30, "same-key"))
    assert (again.status, again.body) == (first.status, first.body)
    card = operator.ok("lookup", {"number": number})["card"]
    assert card["balance"]["value"] == 60
    assert [e["kind"] for e in history(operator, number)] == ["adjust", "issue"]


def test_adjust_refusals_are_decided_against_the_card_and_stored_under_the_key(
    services: Any, operator: Operator
) -> None:
    number, _pin = issue_card(50, services=services)
    stock = card_number(4004)
    load_stock([(stock, None)])
    cases = [
        (adjust_body(number, -50.01, "k-1"), "insufficient_funds"),
        (adjust_body(number, 9950.01, "k-2"), "amount_out_of_range"),  # 10,000.01 on the card
        (adjust_body(number, 5, "k-3", currency="EUR"), "currency_mismatch"),
        (adjust_body(stock, 5, "k-4"), "card_not_active"),
        (adjust_body(card_number(999_002), 5, "k-5"), "card_not_found"),
    ]
    for body, code in cases:
        answer = operator.call("adjust", body)
        assert answer.error_code == code, code
        assert answer.status == (404 if code == "card_not_found" else 400)
    # Once the card could take it, the same key still gets the stored refusal
    operator.ok("adjust", adjust_body(number, 100, "k-6"))
    assert operator.call("adjust", adjust_body(number, -50.01, "k-1")).error_code == (
        "insufficient_funds"
    )
    assert operator.ok("adjust", adjust_body(number, 9850, "k-7"))["card"]["balance"]["value"] == (
        10000
    )
    card = operator.ok("lookup", {"number": number})["card"]
    assert card["balance"]["value"] == 10000


def test_adjust_counts_held_money_against_the_maximum(services: Any, operator: Operator) -> None:
    number, pin = issue_card(9000, services=services)
    assert reserve(services, number, pin, 1000, "r-1").status == 200  # 8,000 + 1,000 held
    assert operator.call("adjust", adjust_body(number, 1000.01, "m-1")).error_code == (
        "amount_out_of_range"
    )
    assert operator.ok("adjust", adjust_body(number, 1000, "m-2"))["card"]["balance"]["value"] == (
        9000
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [(0, "invalid_request"), ("1.001", "invalid_request"), (10000.01, "amount_out_of_range")],
)
def test_adjust_amounts_refused_before_any_read(
    services: Any, operator: Operator, value: Any, code: str
) -> None:
    number, _pin = issue_card(50, services=services)
    with DynamoCalls() as calls:
        answer = operator.call("adjust", adjust_body(number, value, "x-1"))
    assert (answer.status, answer.error_code, calls.operations) == (400, code, [])


def test_adjust_needs_an_idempotency_key(services: Any, operator: Operator) -> None:
    number, _pin = issue_card(50, services=services)
    body = adjust_body(number, 5, "k")
    del body["idempotency_key"]
    assert operator.call("adjust", body).error_code == "invalid_request"


def test_a_frozen_card_can_be_adjusted_by_finance(services: Any, operator: Operator) -> None:
    number, _pin = issue_card(50, services=services)
    operator.ok("freeze", {"number": number, "reason": "fraud suspected"})
    answer = operator.ok("adjust", adjust_body(number, -20, "f-1"))
    assert answer["card"]["balance"]["value"] == 30 and answer["card"]["frozen"] is not None


# Expiry ----------------------------------------------------------------------------------------


def test_expiry_set_and_cleared(services: Any, operator: Operator, clock: Any) -> None:
    number, pin = issue_card(50, services=services)
    body = {"number": number, "expires_at": "2027-01-15T09:00:00+00:00", "reason": "promo card"}
    card = operator.ok("expiry", body)["card"]
    assert card["expires_at"] == "2027-01-15T09:00:00Z"
    clock.advance(3600)
    assert balance(services, number, pin).error_code == "card_expired"
    card = operator.ok("expiry", {"number": number, "expires_at": None, "reason": "extended"})
    assert card["card"]["expires_at"] is None
    assert balance(services, number, pin).status == 200
    # The same expiry again: unchanged
    operator.ok("expiry", {"number": number, "expires_at": None, "reason": "extended"})
    assert [e["kind"] for e in history(operator, number)] == ["expiry_set", "expiry_set", "issue"]


def test_expiry_of_a_deactivated_card_is_refused(services: Any, operator: Operator) -> None:
    number, pin = issue_card(50, services=services)
    invoke("deactivate", {"card_number": number, "pin": pin}, services=services)
    body = {"number": number, "expires_at": "2030-01-01T00:00:00Z", "reason": "by mistake"}
    assert operator.call("expiry", body).error_code == "card_deactivated"


# What is recorded, and what is never logged ---------------------------------------------------


def test_every_change_is_an_entry_with_actor_reason_and_time(services: Any, clock: Any) -> None:
    number, pin = issue_card(50, services=services)
    assert balance(services, number, wrong_pin(pin)).status == 400
    ana, ben = Operator(services, actor=ANA), Operator(services, actor=BEN)
    steps = [
        (ana, "freeze", {"reason": "reported stolen"}),
        (ana, "unfreeze", {"reason": "found again"}),
        (ana, "unlock_pin", {"reason": "holder verified"}),
        (ben, "adjust", {**adjust_body(number, 5, "e-1")}),
        (ben, "expiry", {"expires_at": "2030-01-01T00:00:00Z", "reason": "policy"}),
    ]
    for operator, name, fields in steps:
        clock.advance(1)
        operator.ok(name, {"number": number, **fields})
    entries = history(ana, number)
    assert [e["kind"] for e in entries] == [
        "expiry_set",
        "adjust",
        "unlock_pin",
        "unfreeze",
        "freeze",
        "issue",
    ]
    actors = [e["actor"] for e in entries]
    assert actors == [BEN, BEN, ANA, ANA, ANA, "key-1"]  # NewStore's calls: the API key id
    assert [e["created_at"][-3:] for e in entries] == ["05Z", "04Z", "03Z", "02Z", "01Z", "00Z"]
    for entry in entries[:-1]:
        assert entry["reason"] and entry["request_id"].startswith("op-")
    # Actions that move no money show no amount; the balance they leave is shown
    freeze = entries[-2]
    assert freeze["amount"] is None and freeze["balance_after"]["value"] == 50
    assert entries[-1]["reason"] is None and entries[-1]["amount"]["value"] == 50


@pytest.mark.parametrize(
    "reason",
    [
        "card 7777001234567890 reported",
        "card 7777 0012 3456 7890 reported",
        "card 7777-0012-3456-7890 reported",
        "ok",
        "   ",
        "x" * 201,
    ],
)
def test_reasons_with_a_card_number_or_out_of_length_are_refused(
    services: Any, operator: Operator, reason: str
) -> None:
    number, _pin = issue_card(services=services)
    answer = operator.call("freeze", {"number": number, "reason": reason})
    assert (answer.status, answer.error_code) == (400, "invalid_request")
    assert reason.strip() not in answer.body or not reason.strip()
    assert operator.ok("lookup", {"number": number})["card"]["frozen"] is None


def test_logs_hold_no_reason_customer_or_number(services: Any, logs: CapturedLogs) -> None:
    # (the autouse scan covers numbers, PINs and e-mails; reasons and names are checked here)
    number, _pin = issue_card(50, services=services, customer=CUSTOMER)
    operator = Operator(services)
    reason = "holder Jay called from the Berlin store"
    for name, fields in (
        ("lookup", {}),
        ("freeze", {"reason": reason}),
        ("unfreeze", {"reason": reason}),
        ("unlock_pin", {"reason": reason}),
        ("adjust", {**adjust_body(number, 1, "l-1"), "reason": reason}),
        ("expiry", {"expires_at": None, "reason": reason}),
        ("history", {}),
    ):
        operator.call(name, {"number": number, **fields})
    operator.call("customers_cards", {"customer_id": CUSTOMER["id"]})
    operator.call("customers_erase", {"customer_id": CUSTOMER["id"], "reason": reason})
    text = logs.text
    assert "operator action recorded" in text  # the scan saw the actions' logs
    for secret in (reason, "Jay Doubleyou", CUSTOMER["id"], number, number[-8:]):
        assert secret not in text
