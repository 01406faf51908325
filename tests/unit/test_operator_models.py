"""The operator API's request models (``giftcard.operator_models``) and the pure parts of the
back office's answers (``giftcard.backoffice``): what is refused before any storage call, and how
entries and the ledger are shown."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from giftcard import operator_models as views
from giftcard.backoffice import entry_view, last_activity, open_reservations
from giftcard.http import validation_message
from giftcard.jsonio import loads
from giftcard.routes import OPERATOR_ROUTES
from giftcard.writes import LEDGER_KINDS, OPERATOR_KINDS, LedgerEntry

NUMBER = "7777001234567897"


def parse(model: type[Any], text: str) -> Any:
    """As the handler will: JSON with every number a ``Decimal``, then the model."""
    return model.model_validate(loads(text))


def refusal(model: type[Any], text: str) -> str:
    with pytest.raises(ValidationError) as caught:
        parse(model, text)
    return validation_message(caught.value)


# Reasons ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason",
    [
        "reported stolen",
        "abc",
        "x" * 200,
        "order 12345678901 refunded",  # 11 digits: an order number, not a card number
        "called on 2026-11-26 at 10:00",
        "phone +49 30 1234",
    ],
)
def test_reasons_that_are_accepted(reason: str) -> None:
    request = views.FreezeRequest.model_validate({"number": NUMBER, "reason": reason})
    assert request.reason == reason


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        ("ab", "at least 3"),
        ("   ", "at least 3"),
        ("x" * 201, "at most 200"),
        (f"card {NUMBER} stolen", "12 or more digits"),
        ("card 7777 0012 3456 7897 stolen", "12 or more digits"),
        ("card 7777-0012-3456-7897", "12 or more digits"),
        ("123456789012", "12 or more digits"),
    ],
)
def test_reasons_that_are_refused_say_why_without_the_reason(reason: str, why: str) -> None:
    message = refusal(views.FreezeRequest, f'{{"number": "{NUMBER}", "reason": "{reason}"}}')
    assert message.startswith("Invalid request: reason:") and why in message
    assert NUMBER not in message and (reason.strip() not in message or not reason.strip())


def test_every_changing_operation_requires_a_reason() -> None:
    changing = [route for route in OPERATOR_ROUTES if route.access.writes]
    assert len(changing) == 6
    for route in changing:
        assert "reason" in route.request.model_fields, route.function
        assert route.request.model_fields["reason"].is_required(), route.function


# Naming a card ----------------------------------------------------------------------------------


def test_a_card_is_named_by_number_or_card_id() -> None:
    assert views.LookupRequest.model_validate({"number": NUMBER}).card_id is None
    assert views.LookupRequest.model_validate({"card_id": "c_ab12"}).number is None
    for body in ({}, {"number": NUMBER, "card_id": "c_ab12"}, {"number": None}):
        with pytest.raises(ValidationError) as caught:
            views.LookupRequest.model_validate(body)
        assert NUMBER not in validation_message(caught.value)


def test_unknown_fields_are_ignored() -> None:
    request = parse(views.LookupRequest, f'{{"number": "{NUMBER}", "pin": "1234", "x": 1}}')
    assert request.number == NUMBER


# History ----------------------------------------------------------------------------------------


def test_history_limit_is_a_whole_number_from_1_to_200_default_50() -> None:
    assert parse(views.HistoryRequest, '{"card_id": "c_ab"}').limit == 50
    assert parse(views.HistoryRequest, '{"card_id": "c_ab", "limit": 200}').limit == 200
    assert parse(views.HistoryRequest, '{"card_id": "c_ab", "limit": 1.0}').limit == 1
    for bad in ("0", "201", "2.5", '"5"', "true", "null"):
        with pytest.raises(ValidationError):
            parse(views.HistoryRequest, f'{{"card_id": "c_ab", "limit": {bad}}}')


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    position = "2027-01-15T08:00:00.123456Z#" + "a" * 32
    cursor = views.encode_cursor(position)
    assert views.decode_cursor(cursor) == position
    assert parse(views.HistoryRequest, f'{{"card_id": "c_ab", "cursor": "{cursor}"}}').cursor
    for foreign in ("", "!!", views.encode_cursor("ENTRY#x"), views.encode_cursor(NUMBER)):
        assert views.decode_cursor(foreign) is None
        with pytest.raises(ValidationError):
            parse(views.HistoryRequest, f'{{"card_id": "c_ab", "cursor": "{foreign}"}}')


# Adjust and expiry ------------------------------------------------------------------------------


def test_adjust_amount_is_signed_never_zero_and_a_json_number() -> None:
    body = (
        '{{"number": "{n}", "amount": {{"value": {v}, "currency": "USD"}},'
        ' "reason": "fix", "idempotency_key": "k"}}'
    )
    request = parse(views.AdjustRequest, body.format(n=NUMBER, v="-12.5"))
    assert request.amount.value == Decimal("-12.5")
    for bad in ("0", "0.00", "-0", '"5"', "true"):
        with pytest.raises(ValidationError):
            parse(views.AdjustRequest, body.format(n=NUMBER, v=bad))
    no_key = '{"number": "1", "amount": {"value": 1, "currency": "USD"}, "reason": "fix"}'
    assert "idempotency_key: is required" in refusal(views.AdjustRequest, no_key)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2027-12-31T23:59:59Z", "2027-12-31T23:59:59Z"),
        ("2027-12-31T23:59:59+00:00", "2027-12-31T23:59:59Z"),
        ("2027-12-31T23:59:59.900Z", "2027-12-31T23:59:59Z"),
    ],
)
def test_expiry_is_utc_stored_to_the_second(given: str, stored: str) -> None:
    request = parse(
        views.ExpiryRequest, f'{{"card_id": "c_a", "expires_at": "{given}", "reason": "r1x"}}'
    )
    assert request.expires_at == stored


def test_expiry_refuses_local_times_and_must_be_given() -> None:
    for bad in ('"2027-12-31T23:59:59+02:00"', '"2027-12-31T23:59:59"', '"2027-12-31"', '"soon"'):
        with pytest.raises(ValidationError):
            parse(
                views.ExpiryRequest, f'{{"card_id": "c_a", "expires_at": {bad}, "reason": "abc"}}'
            )
    assert parse(views.ExpiryRequest, '{"card_id": "c_a", "expires_at": null, "reason": "abc"}')
    assert "expires_at: is required" in refusal(
        views.ExpiryRequest, '{"card_id": "c_a", "reason": "abc"}'
    )


# How the ledger is shown ------------------------------------------------------------------------


def ledger_entry(kind: str, before: tuple[int, int], after: tuple[int, int], **fields: Any) -> Any:
    return LedgerEntry(
        lookup="l",
        kind=kind,
        amount=sum(after) - sum(before),
        currency=fields.pop("currency", "USD"),
        balance_before=before[0],
        balance_after=after[0],
        held_before=before[1],
        held_after=after[1],
        created_at=fields.pop("created_at", "2027-01-15T08:00:00.000000Z"),
        record_pk="",
        **fields,
    )


def test_entries_that_move_no_money_show_no_amount() -> None:
    freeze = entry_view(ledger_entry("freeze", (500, 0), (500, 0), actor="arn", reason="stolen"))
    assert freeze.amount is None and freeze.balance_after is not None
    assert freeze.balance_after.value == 5 and (freeze.actor, freeze.reason) == ("arn", "stolen")
    adjust = entry_view(ledger_entry("adjust", (500, 0), (0, 0)))
    assert adjust.amount is not None and adjust.amount.value == -5
    # An inactive card's freeze has no currency: nothing to show in money
    stock = entry_view(ledger_entry("freeze", (0, 0), (0, 0), currency=""))
    assert (stock.amount, stock.balance_after, stock.held_after) == (None, None, None)


def test_entries_written_before_actor_existed_name_the_api_key() -> None:
    old = entry_view(ledger_entry("issue", (0, 0), (500, 0), key_id="key-1", store_id="s-1"))
    assert (old.actor, old.reason, old.store_id, old.instrument_id) == ("key-1", None, "s-1", None)
    assert old.created_at == "2027-01-15T08:00:00Z"


def test_open_reservations_and_last_activity_come_from_the_ledger() -> None:
    def at(second: int) -> str:
        return f"2027-01-15T08:00:{second:02d}.000000Z"

    entries = [
        ledger_entry("issue", (0, 0), (100, 0), created_at=at(0)),
        ledger_entry("hold", (100, 0), (70, 30), instrument_id="a", created_at=at(1)),
        ledger_entry("hold", (70, 30), (60, 40), instrument_id="b", created_at=at(2)),
        ledger_entry("capture", (60, 40), (60, 10), instrument_id="a", created_at=at(3)),
        ledger_entry("release", (60, 10), (65, 5), instrument_id="b", created_at=at(4)),
        ledger_entry("freeze", (65, 5), (65, 5), created_at=at(9)),
    ]
    assert open_reservations(entries) == 1  # b still holds 5; a is fully captured
    assert last_activity(entries) == "2027-01-15T08:00:04Z"  # an operator's action is not one
    assert last_activity([]) is None


def test_entry_kinds_are_the_contracts() -> None:
    from typing import get_args

    assert set(get_args(views.EntryKind)) == set(LEDGER_KINDS) | set(OPERATOR_KINDS)
    assert len(LEDGER_KINDS) == 8 and len(OPERATOR_KINDS) == 6
