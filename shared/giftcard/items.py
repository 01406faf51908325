"""The table's items: key builders and the mapping between items and the domain's values.

One table holds cards, their ledger entries, idempotency records, financial instruments and the
daily issuance counters (``design.md``, "Data model"). Only this module spells attribute names.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from typing import Any

from giftcard import table
from giftcard.cards import Card, CardState, Frozen, Instrument
from giftcard.writes import (
    ENTRY_PREFIX,
    CardUpdate,
    LedgerEntry,
    StoredAudit,
    StoredRecord,
)

CARD_SK = "CARD"
RECORD_SK = "IDEM"
INSTRUMENT_PREFIX = "INSTR#"
ISSUANCE_SK = "ISSUANCE"
#: Every audit is one item of this partition, sorted by its start (``<as_of>#<audit_id>``): the
#: latest, or the latest of a day, is one Query. One item a night stays far below a partition's
#: limits.
AUDIT_PK = "AUDIT"
#: Daily issuance counters are kept this long (then TTL cleanup may delete them).
ISSUANCE_RETENTION_SECONDS = 400 * 86400

#: Idempotency records outlive their expiry by this long before TTL cleanup may delete them
#: (expiry itself is decided in code; TTL deletion is only housekeeping and may lag for days).
TTL_SLACK_SECONDS = 86400

#: DynamoDB's limit of items in one TransactWriteItems.
TRANSACTION_ITEMS = 100


def card_pk(lookup: str) -> str:
    return f"CARD#{lookup}"


#: An operator-facing card id is the card's keyed lookup with this prefix: stable, opaque (an HMAC
#: of the number under the service's key material reveals nothing about it) and a key in itself.
CARD_ID_PREFIX = "c_"


def card_id(lookup: str) -> str:
    """The opaque ``card_id`` operators and events see for the card with this lookup."""
    return f"{CARD_ID_PREFIX}{lookup}"


def lookup_of_card_id(value: str) -> str | None:
    """The lookup a ``card_id`` stands for, or None when it is not one of ours."""
    if not value.startswith(CARD_ID_PREFIX):
        return None
    lookup = value[len(CARD_ID_PREFIX) :]
    if not lookup or not all(c.isalnum() or c in "-_" for c in lookup):
        return None
    return lookup


def record_pk(endpoint: str, key_hash: str) -> str:
    return f"IDEM#{endpoint}#{key_hash}"


def instrument_pk(instrument_id: str) -> str:
    return f"{INSTRUMENT_PREFIX}{instrument_id}"


# Item <-> record conversion ----------------------------------------------------------------------

_CARD_FIELDS = (
    "state",
    "last4",
    "currency",
    "balance",
    "held",
    "version",
    "pin_hash",
    "pin_failures",
    "pin_locked_until",
    "pin_lockouts",
    "pin_hard_locked",
    "pin_charge",
    "created_at",
    "activated_at",
    "deactivated_at",
    "expires_at",
    "source",
    table.CUSTOMERS_PK,  # the attribute is named as the Card field: customer_key
)
#: An operator's block: one map attribute ``{reason, by, at}``, absent when not frozen.
FROZEN = "frozen"
#: The sealed customer (AES-GCM, bound to the card's key).
CUSTOMER = "customer"
_INT_FIELDS = frozenset(
    {"balance", "held", "version", "pin_failures", "pin_locked_until", "pin_lockouts"}
)
#: The PIN fields a right PIN resets (window, lock, lockout streak).
PIN_RESET: dict[str, Any] = {
    "pin_failures": 0,
    "pin_locked_until": 0,
    "pin_lockouts": 0,
    "pin_hard_locked": False,
}


def card_item(card: Card, customer_sealed: bytes | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"PK": card_pk(card.lookup), "SK": CARD_SK, "type": "card"}
    for name in _CARD_FIELDS:
        value = getattr(card, name)
        if value is not None and value != "":
            item[name] = str(value) if name == "state" else value
    if card.frozen is not None:
        item[FROZEN] = asdict(card.frozen)
    if customer_sealed:
        item[CUSTOMER] = customer_sealed
    return item


def card_from_item(item: dict[str, Any]) -> Card:
    values: dict[str, Any] = {"lookup": item["PK"].removeprefix("CARD#")}
    for name in _CARD_FIELDS:
        if name in item:
            values[name] = int(item[name]) if name in _INT_FIELDS else item[name]
    values["state"] = CardState(values["state"])
    frozen = item.get(FROZEN)
    if isinstance(frozen, dict):
        values["frozen"] = Frozen(
            reason=str(frozen.get("reason", "")),
            by=str(frozen.get("by", "")),
            at=str(frozen.get("at", "")),
        )
    return Card(**values)


def customer_sealed_of(item: dict[str, Any]) -> bytes | None:
    """The sealed customer of a card item (None: none, or erased)."""
    sealed = item.get(CUSTOMER)
    if sealed is None:
        return None
    return bytes(sealed.value if hasattr(sealed, "value") else sealed)


#: Entry attributes written only when set.
_ENTRY_TEXT_FIELDS = (
    "request_id",
    "key_id",
    "store_id",
    "instrument_id",
    "actor",
    "reason",
    "last4",
)


def entry_item(entry: LedgerEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": card_pk(entry.lookup),
        "SK": entry.sk,
        "type": "entry",
        "kind": entry.kind,
        "amount": entry.amount,
        "currency": entry.currency,
        "balance_before": entry.balance_before,
        "balance_after": entry.balance_after,
        "held_before": entry.held_before,
        "held_after": entry.held_after,
        "created_at": entry.created_at,
    }
    if entry.record_pk:  # an operator's action that moves no money is no idempotent request
        item["record"] = entry.record_pk
    for name in _ENTRY_TEXT_FIELDS:
        value = getattr(entry, name)
        if value:
            item[name] = value
    return item


def entry_from_item(item: dict[str, Any]) -> LedgerEntry:
    created_at, _, entry_id = item["SK"].removeprefix(ENTRY_PREFIX).rpartition("#")
    return LedgerEntry(
        lookup=item["PK"].removeprefix("CARD#"),
        kind=item["kind"],
        amount=int(item["amount"]),
        currency=item["currency"],
        balance_before=int(item["balance_before"]),
        balance_after=int(item["balance_after"]),
        held_before=int(item["held_before"]),
        held_after=int(item["held_after"]),
        created_at=created_at,
        record_pk=item.get("record", ""),
        request_id=item.get("request_id", ""),
        key_id=item.get("key_id", ""),
        store_id=item.get("store_id", ""),
        instrument_id=item.get("instrument_id", ""),
        actor=item.get("actor", ""),
        reason=item.get("reason", ""),
        last4=item.get("last4", ""),
        entry_id=entry_id,
    )


def record_item(record: StoredRecord) -> dict[str, Any]:
    return {
        "PK": record.pk,
        "SK": RECORD_SK,
        "type": "record",
        "status": record.status,
        "body": record.body_sealed,
        "params": record.params_hash,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        table.TTL_ATTRIBUTE: record.expires_at + TTL_SLACK_SECONDS,
    }


def record_from_item(item: dict[str, Any]) -> StoredRecord:
    body = item["body"]
    return StoredRecord(
        pk=item["PK"],
        status=int(item["status"]),
        body_sealed=bytes(body.value if hasattr(body, "value") else body),
        params_hash=item["params"],
        created_at=int(item["created_at"]),
        expires_at=int(item["expires_at"]),
    )


_INSTRUMENT_INT_FIELDS = ("authorized", "captured", "refunded", "released", "version", "expires_at")


def instrument_item(instrument: Instrument, open_shards: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": instrument_pk(instrument.instrument_id),
        "SK": "INSTRUMENT",
        "type": "instrument",
        "card": instrument.lookup,
        "currency": instrument.currency,
        "created_at": instrument.created_at,
        "account_id": instrument.account_id,
        "last4": instrument.last4,
    }
    for name in _INSTRUMENT_INT_FIELDS:
        item[name] = getattr(instrument, name)
    if instrument.reserved > 0:
        # Sparse index entry: only instruments still holding money are found by the expiry job.
        shard = zlib.crc32(instrument.instrument_id.encode()) % open_shards
        item[table.OPEN_RESERVATIONS_PK] = f"OPEN#{shard}"
        item[table.OPEN_RESERVATIONS_SK] = (
            f"{instrument.expires_at:012d}#{instrument.instrument_id}"
        )
    return item


def instrument_from_item(item: dict[str, Any]) -> Instrument:
    values = {name: int(item[name]) for name in _INSTRUMENT_INT_FIELDS}
    return Instrument(
        instrument_id=item["PK"].removeprefix(INSTRUMENT_PREFIX),
        lookup=item["card"],
        currency=item["currency"],
        created_at=item["created_at"],
        account_id=item.get("account_id", ""),
        last4=item.get("last4", ""),
        **values,
    )


def card_update_fields(
    change: CardUpdate,
) -> tuple[dict[str, Any], dict[str, Any], tuple[str, ...]]:
    """(set, set only if the card is new, remove) of a card update, by attribute name."""
    fields: dict[str, Any] = {
        name: str(value) if isinstance(value, CardState) else value
        for name, value in change.changes().items()
    }
    if change.customer_sealed:
        fields[CUSTOMER] = change.customer_sealed
    if change.frozen is not None:
        fields[FROZEN] = asdict(change.frozen)
    removed: tuple[str, ...] = ()
    if change.reset_pin:
        fields.update(PIN_RESET)
        removed += ("pin_charge",)
    if change.unfreeze:
        removed += (FROZEN,)
    if change.clear_expiry:
        removed += ("expires_at",)
    if change.erase_customer:
        removed += (CUSTOMER, table.CUSTOMERS_PK)
    if_missing: dict[str, Any] = {}
    if change.registration is not None:
        if_missing = {
            "type": "card",
            "last4": change.registration.last4,
            "created_at": change.registration.created_at,
            "source": "registered",
            "pin_failures": 0,
            "pin_locked_until": 0,
        }
    return fields, if_missing, removed


# What the event publisher reads besides the entry itself -----------------------------------------


def is_entry_item(item: dict[str, Any]) -> bool:
    """A ledger entry in a card's partition (not the card, a record, an instrument or a counter)."""
    return str(item.get("PK", "")).startswith("CARD#") and str(item.get("SK", "")).startswith(
        ENTRY_PREFIX
    )


@dataclass(frozen=True)
class EntryAttribution:
    """Who made an entry and why, and the card's last 4 digits, as stored on the entry item.

    ``actor`` is the API key id for NewStore's calls and the IAM ARN for operators; entries
    written before ``actor`` existed name their API key in ``key_id``."""

    actor: str
    reason: str
    last4: str


def entry_attribution(item: dict[str, Any]) -> EntryAttribution:
    return EntryAttribution(
        actor=str(item.get("actor") or item.get("key_id") or ""),
        reason=str(item.get("reason") or ""),
        last4=str(item.get("last4") or ""),
    )


# Audits -----------------------------------------------------------------------------------------


def audit_sk(as_of: str, audit_id: str) -> str:
    return f"{as_of}#{audit_id}"


def audit_item(audit: StoredAudit) -> dict[str, Any]:
    return {
        "PK": AUDIT_PK,
        "SK": audit_sk(audit.as_of, audit.audit_id),
        "type": "audit",
        "audit_id": audit.audit_id,
        "as_of": audit.as_of,
        "finished_at": audit.finished_at,
        "cards_checked": audit.cards_checked,
        "mismatches": audit.mismatches,
        "body": audit.body,
    }


def audit_from_item(item: dict[str, Any]) -> StoredAudit:
    return StoredAudit(
        audit_id=str(item["audit_id"]),
        as_of=str(item["as_of"]),
        finished_at=str(item["finished_at"]),
        cards_checked=int(item["cards_checked"]),
        mismatches=int(item["mismatches"]),
        body=str(item["body"]),
    )
