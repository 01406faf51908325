"""Events out: one EventBridge event per ledger entry (back-office.md, "Events out").

Pure: a DynamoDB stream record in, a ``PutEvents`` entry out, or None for a record that is not
an event (a card, an idempotency record, an instrument, a counter; a MODIFY or REMOVE). The
stream image is decoded by the caller's ``load`` (boto3's deserializer in the publisher), the way
``giftcard.expressions`` takes its ``dump``.

The detail is built field by field from what ``giftcard.items`` reads off an entry item, so
nothing else stored on an item (a number never is; a PIN hash, a sealed customer) can reach an
event. The event id is the entry id: every delivery of the same entry carries the same
``event_id``, and consumers dedupe by it.

No ``from __future__ import annotations``: pydantic evaluates the annotations once, as written.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from giftcard import items, money
from giftcard.jsonio import dumps
from giftcard.writes import EntryKind, LedgerEntry

SOURCE = "giftcard"

#: Entry kind -> the event's ``detail-type`` (decided in back-office.md; docs/events/README.md).
DETAIL_TYPES: Mapping[str, str] = {
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

Kind = EntryKind
if set(get_args(Kind)) != set(DETAIL_TYPES):
    raise RuntimeError("events.Kind and events.DETAIL_TYPES must name the same kinds")

#: Operator actions that move no money: their ``amount`` is null.
NO_AMOUNT_KINDS = frozenset({"freeze", "unfreeze", "unlock_pin", "expiry_set", "customer_erased"})

INSERT = "INSERT"

_ISO_UTC = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$"
Last4 = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
Text = Annotated[str, StringConstraints(min_length=1)]


class EventMoney(BaseModel):
    """An amount in major units of its currency (25.5 USD), like every amount of the API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: Annotated[
        Decimal,
        WithJsonSchema({"type": "number", "description": "Major units", "example": 25.5}),
    ]
    currency: Annotated[
        str,
        StringConstraints(pattern=r"^[A-Z]{3}$"),
        Field(description="ISO 4217 alphabetic code"),
    ]


class EventDetail(BaseModel):
    """The detail of every gift card event (source "giftcard"). Every key is always present, null
    when it does not apply. No card number, PIN or customer data is ever part of it."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="GiftCardEventDetail")

    event_id: Text = Field(
        description="The ledger entry's id: the same on every delivery of this event; "
        "deduplicate by it."
    )
    card_id: Annotated[str, StringConstraints(pattern=r"^c_[A-Za-z0-9_-]+$")] = Field(
        description="Opaque, stable card id (never the number); accepted by the operator API."
    )
    last4: Last4 | None = Field(description="Last 4 digits of the card number.")
    kind: Kind = Field(description="The ledger entry's kind (see the detail-type table).")
    amount: EventMoney | None = Field(
        description="Change of the card's value (spendable + held) by this entry: positive when "
        "money is loaded or refunded, negative when captured or voided, 0 when money only moves "
        "between spendable and held (hold, release); null for operator actions that move none."
    )
    balance_after: EventMoney | None = Field(
        description="Spendable balance after the entry (null when the card has no currency)."
    )
    held_after: EventMoney | None = Field(
        description="Reserved (held) amount after the entry (null when the card has no currency)."
    )
    store_id: Text | None = Field(description="Store NewStore named, when it named one.")
    actor: Text | None = Field(
        description="Who: NewStore's API key id for webhook calls, the IAM ARN for operators."
    )
    reason: Text | None = Field(description="Why: the operator's reason (operator actions).")
    instrument_id: Text | None = Field(description="Financial instrument (reservation) concerned.")
    occurred_at: Annotated[
        str,
        StringConstraints(pattern=_ISO_UTC),
        WithJsonSchema({"type": "string", "format": "date-time", "pattern": _ISO_UTC}),
    ] = Field(description="When the entry was committed, ISO 8601 UTC.")
    request_id: Text | None = Field(description="Id of the request that made the entry.")


class NotAnEvent(ValueError):
    """An entry item that cannot become an event (a kind without a detail-type, a broken item):
    the publisher reports its record as failed, so it ends in the dead-letter queue."""


@dataclass(frozen=True)
class Event:
    detail_type: str
    time: datetime
    detail: EventDetail

    @property
    def event_id(self) -> str:
        return self.detail.event_id

    def detail_json(self) -> str:
        return dumps(self.detail.model_dump())

    def put_entry(self, bus_name: str) -> dict[str, Any]:
        """The ``PutEvents`` entry publishing this event on ``bus_name``."""
        return {
            "Source": SOURCE,
            "DetailType": self.detail_type,
            "Detail": self.detail_json(),
            "Time": self.time,
            "EventBusName": bus_name,
        }

    def as_delivered(self) -> dict[str, Any]:
        """What a consumer sees of it (the envelope fields GET /admin/events/recent lists)."""
        return {
            "source": SOURCE,
            "detail-type": self.detail_type,
            "time": self.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "detail": self.detail.model_dump(),
        }


def _money(minor: int, currency: str) -> EventMoney | None:
    if not currency:
        return None
    return EventMoney(value=money.to_major(minor, currency), currency=currency)


def _occurred(created_at: str) -> datetime:
    try:
        return datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def event_of_entry(entry: LedgerEntry, attribution: items.EntryAttribution) -> Event:
    detail_type = DETAIL_TYPES.get(entry.kind)
    if detail_type is None:
        raise NotAnEvent(f"ledger entry kind {entry.kind!r} has no detail-type")
    detail = EventDetail(
        event_id=entry.entry_id,
        card_id=items.card_id(entry.lookup),
        last4=attribution.last4 or None,
        kind=entry.kind,  # type: ignore[arg-type]  # checked against DETAIL_TYPES above
        amount=None if entry.kind in NO_AMOUNT_KINDS else _money(entry.amount, entry.currency),
        balance_after=_money(entry.balance_after, entry.currency),
        held_after=_money(entry.held_after, entry.currency),
        store_id=entry.store_id or None,
        actor=attribution.actor or None,
        reason=attribution.reason or None,
        instrument_id=entry.instrument_id or None,
        occurred_at=entry.created_at,
        request_id=entry.request_id or None,
    )
    return Event(detail_type=detail_type, time=_occurred(entry.created_at), detail=detail)


def event_of_item(item: dict[str, Any]) -> Event:
    """The event of a stored entry item (``NotAnEvent`` if it cannot be one)."""
    try:
        entry = items.entry_from_item(item)
        attribution = items.entry_attribution(item)
        return event_of_entry(entry, attribution)
    except NotAnEvent:
        raise
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise NotAnEvent(f"unreadable ledger entry ({type(exc).__name__})") from exc


def event_of_record(
    record: Mapping[str, Any], load: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> Event | None:
    """The event of a stream record: a new ledger entry (INSERT); None for anything else.

    ``load`` decodes the record's ``NewImage`` (DynamoDB attribute values) into plain values.
    """
    if record.get("eventName") != INSERT:
        return None  # entries are immutable: a MODIFY or REMOVE is housekeeping (TTL), not news
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not image:
        return None
    item = load(image)
    if not items.is_entry_item(item):
        return None
    return event_of_item(item)


def detail_schema() -> dict[str, Any]:
    """The JSON Schema of every event's ``detail`` (docs/events/detail.schema.json)."""
    schema = EventDetail.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }
