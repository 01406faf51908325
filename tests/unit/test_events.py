"""Events out, pure: an entry item becomes exactly the detail back-office.md decides, other stream
records are not events, and docs/events/ publishes what the model generates."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from boto3.dynamodb.types import TypeSerializer

from giftcard import events, items
from giftcard.writes import ENTRY_PREFIX

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "events" / "detail.schema.json"
LOOKUP = "Zx8_lookup-0123456789"
ENTRY_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
CREATED = "2027-01-15T08:00:00.123456Z"

#: back-office.md, "Events out (decided)", word for word.
DECIDED = {
    "issue": "Gift Card Issued",
    "activate": "Gift Card Activated",
    "deactivate_void": "Gift Card Deactivated",
    "hold": "Gift Card Reserved",
    "capture": "Gift Card Captured",
    "release": "Gift Card Released",
    "release_void": "Gift Card Release Voided",
    "refund": "Gift Card Refunded",
    "adjust": "Gift Card Adjusted",
    "freeze": "Gift Card Frozen",
    "unfreeze": "Gift Card Unfrozen",
    "unlock_pin": "Gift Card PIN Unlocked",
    "expiry_set": "Gift Card Expiry Set",
    "customer_erased": "Gift Card Customer Erased",
}
DETAIL_KEYS = [
    "event_id",
    "card_id",
    "last4",
    "kind",
    "amount",
    "balance_after",
    "held_after",
    "store_id",
    "actor",
    "reason",
    "instrument_id",
    "occurred_at",
    "request_id",
]


def entry_item(kind: str = "capture", **fields: Any) -> dict[str, Any]:
    """An entry item as the table holds it (numbers as ``Decimal``, as boto3 reads them)."""
    item: dict[str, Any] = {
        "PK": items.card_pk(LOOKUP),
        "SK": f"{ENTRY_PREFIX}{CREATED}#{ENTRY_ID}",
        "type": "entry",
        "kind": kind,
        "amount": Decimal(-3050),
        "currency": "USD",
        "balance_before": Decimal(7000),
        "balance_after": Decimal(7000),
        "held_before": Decimal(4000),
        "held_after": Decimal(950),
        "created_at": CREATED,
        "record": "IDEM#instrument_capture#abc",
        "request_id": "req-1",
        "key_id": "key-1",
        "store_id": "store-berlin-1",
        "instrument_id": "instr-1",
    }
    item.update(fields)
    return {name: value for name, value in item.items() if value is not None}


def stream_record(
    item: dict[str, Any], name: str = "INSERT", sequence: str = "1"
) -> dict[str, Any]:
    """A DynamoDB stream record as Lambda hands it (attribute values, NEW_IMAGE)."""
    serializer = TypeSerializer()
    image = {key: serializer.serialize(value) for key, value in item.items()}
    return {
        "eventID": "e1",
        "eventName": name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"PK": image["PK"], "SK": image["SK"]},
            "NewImage": image,
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_IMAGE",
        },
    }


def load(image: dict[str, Any]) -> dict[str, Any]:
    from giftcard.publisher import image_loader

    return image_loader()(image)


def committed_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


# --- the detail --------------------------------------------------------------------------


def test_every_kind_has_the_decided_detail_type() -> None:
    assert dict(events.DETAIL_TYPES) == DECIDED


def test_a_capture_entry_becomes_the_decided_detail_in_major_units() -> None:
    # Given a stored capture entry of 30.50 USD
    event = events.event_of_item(entry_item())

    # Then the event carries exactly the decided keys, money in major units, ids but no number
    assert event.detail_type == "Gift Card Captured"
    assert list(event.detail.model_dump()) == DETAIL_KEYS
    assert json.loads(event.detail_json(), parse_float=Decimal) == {
        "event_id": ENTRY_ID,
        "card_id": items.card_id(LOOKUP),
        "last4": None,
        "kind": "capture",
        "amount": {"value": Decimal("-30.5"), "currency": "USD"},
        "balance_after": {"value": 70, "currency": "USD"},
        "held_after": {"value": Decimal("9.5"), "currency": "USD"},
        "store_id": "store-berlin-1",
        "actor": "key-1",
        "reason": None,
        "instrument_id": "instr-1",
        "occurred_at": CREATED,
        "request_id": "req-1",
    }
    assert event.time.isoformat() == "2027-01-15T08:00:00.123456+00:00"


def test_the_put_events_entry_names_source_bus_and_time() -> None:
    event = events.event_of_item(entry_item())
    entry = event.put_entry("giftcards-bus")
    assert entry["Source"] == "giftcard"
    assert entry["DetailType"] == "Gift Card Captured"
    assert entry["EventBusName"] == "giftcards-bus"
    assert entry["Time"] == event.time
    assert json.loads(entry["Detail"])["event_id"] == ENTRY_ID


def test_currencies_without_minor_units_are_not_scaled() -> None:
    event = events.event_of_item(
        entry_item("issue", amount=Decimal(5000), currency="JPY", balance_after=Decimal(5000))
    )
    assert event.detail.amount is not None
    assert (event.detail.amount.value, event.detail.amount.currency) == (Decimal(5000), "JPY")


def test_operator_entries_carry_actor_reason_and_last4_and_no_amount() -> None:
    arn = "arn:aws:iam::123456789012:user/ana"
    # Given a freeze recorded by an operator (actor, reason, last4 on the entry)
    event = events.event_of_item(
        entry_item(
            "freeze",
            amount=Decimal(0),
            actor=arn,
            reason="reported stolen",
            last4="7890",
            key_id=None,
            instrument_id=None,
            store_id=None,
        )
    )
    detail = event.detail.model_dump()
    assert event.detail_type == "Gift Card Frozen"
    assert (detail["actor"], detail["reason"], detail["last4"]) == (arn, "reported stolen", "7890")
    assert detail["amount"] is None
    assert detail["balance_after"] == {"value": Decimal(70), "currency": "USD"}
    assert (detail["store_id"], detail["instrument_id"]) == (None, None)


def test_an_adjustment_keeps_its_signed_amount() -> None:
    event = events.event_of_item(
        entry_item("adjust", amount=Decimal(-1000), actor="arn:aws:iam::1:user/b", reason="typo")
    )
    assert event.detail.amount is not None
    assert event.detail.amount.value == Decimal(-10)


def test_nothing_but_the_decided_fields_reaches_the_detail() -> None:
    # Given an entry item that (wrongly) also held secrets and customer data
    item = entry_item(
        customer=b"sealed-customer",
        pin_hash="pinhash-secret",
        number="7777123456789012",
        email="jay@example.com",
    )
    # Then none of it is in the event
    text = events.event_of_item(item).detail_json()
    for secret in ("sealed-customer", "pinhash-secret", "7777123456789012", "jay@example.com"):
        assert secret not in text


def test_an_unknown_kind_is_not_an_event() -> None:
    with pytest.raises(events.NotAnEvent, match="no detail-type"):
        events.event_of_item(entry_item("teleport"))


def test_a_broken_entry_item_is_not_an_event() -> None:
    broken = entry_item()
    del broken["balance_after"]
    with pytest.raises(events.NotAnEvent):
        events.event_of_item(broken)


# --- stream records ----------------------------------------------------------------------


def test_an_inserted_entry_record_is_an_event() -> None:
    event = events.event_of_record(stream_record(entry_item()), load)
    assert event is not None
    assert event.event_id == ENTRY_ID


@pytest.mark.parametrize(
    "record",
    [
        stream_record(entry_item(), name="MODIFY"),
        stream_record(entry_item(), name="REMOVE"),
        stream_record({"PK": items.card_pk(LOOKUP), "SK": items.CARD_SK, "type": "card"}),
        stream_record({"PK": "IDEM#issue#k", "SK": items.RECORD_SK, "type": "record"}),
        stream_record({"PK": items.instrument_pk("i1"), "SK": "INSTRUMENT", "type": "instrument"}),
        stream_record({"PK": "ISSUANCE#USD#2027-01-15", "SK": items.ISSUANCE_SK}),
        {"eventName": "INSERT", "dynamodb": {"Keys": {}, "SequenceNumber": "1"}},
    ],
    ids=["modify", "remove", "card", "record", "instrument", "issuance", "no-image"],
)
def test_other_records_are_not_events(record: dict[str, Any]) -> None:
    assert events.event_of_record(record, load) is None


# --- the published schema ----------------------------------------------------------------


def test_the_committed_schema_is_the_generated_one() -> None:
    # `make events-schema` writes it; a model change without it fails here
    assert committed_schema() == events.detail_schema()


@pytest.mark.parametrize("kind", sorted(DECIDED))
def test_every_kind_validates_against_the_committed_schema(kind: str) -> None:
    fields: dict[str, Any] = {"actor": "arn:aws:iam::1:user/a", "reason": "why", "last4": "1234"}
    detail = json.loads(events.event_of_item(entry_item(kind, **fields)).detail_json())
    jsonschema.Draft202012Validator(committed_schema()).validate(detail)


def test_the_schema_refuses_extra_keys_and_missing_ones() -> None:
    validator = jsonschema.Draft202012Validator(committed_schema())
    detail = json.loads(events.event_of_item(entry_item()).detail_json())
    assert validator.is_valid(detail)
    assert not validator.is_valid({**detail, "number": "7777123456789012"})
    assert not validator.is_valid({k: v for k, v in detail.items() if k != "reason"})


def test_the_readme_lists_every_detail_type() -> None:
    readme = (ROOT / "docs" / "events" / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| `([^`]+)` \|", readme, re.MULTILINE))
    assert rows == DECIDED
