"""The DynamoDB requests the repository sends, built from the domain's values: pure functions.

Update and condition expressions are where the guarantees live (a guess charged only while
unlocked, a card changed only as read, a day's issuance only within its ceiling), so they are
built here, apart from the client that sends them, and can be read in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from giftcard import table
from giftcard.cards import PinCharge
from giftcard.items import (
    CARD_SK,
    FROZEN,
    ISSUANCE_RETENTION_SECONDS,
    ISSUANCE_SK,
    card_item,
    card_pk,
    card_update_fields,
    entry_item,
    instrument_item,
    record_item,
)
from giftcard.writes import (
    CardCheck,
    CardCreate,
    CardUpdate,
    InstrumentWrite,
    IssuanceCharge,
    Write,
)

#: Serializes an item (or expression values) to DynamoDB's attribute-value JSON.
Dump = Callable[[dict[str, Any]], dict[str, Any]]


def transaction_items(
    write: Write, now_epoch: int, open_shards: int, table_name: str, dump: Dump
) -> tuple[list[dict[str, Any]], list[str]]:
    """The ``TransactItems`` of ``write`` and the role of each (what a cancellation reason at the
    same position is about): the record, the card, the instrument, the issuance counter, the
    ledger entries, each with its condition."""
    items: list[dict[str, Any]] = []
    roles: list[str] = []
    if write.record is not None:
        items.append(
            {
                "Put": {
                    "TableName": table_name,
                    "Item": dump(record_item(write.record)),
                    "ConditionExpression": "attribute_not_exists(PK) OR expires_at < :now",
                    "ExpressionAttributeValues": dump({":now": now_epoch}),
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        )
        roles.append("record")
    if write.card is not None:
        items.append(card_operation(write.card, table_name, dump))
        roles.append("card")
    if write.instrument is not None:
        items.append(instrument_operation(write.instrument, open_shards, table_name, dump))
        roles.append("instrument")
    if write.issuance is not None:
        items.append(issuance_operation(write.issuance, table_name, dump))
        roles.append("issuance")
    for entry in write.entries:
        items.append(
            {
                "Put": {
                    "TableName": table_name,
                    "Item": dump(entry_item(entry)),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
        )
        roles.append("entry")
    return items, roles


def card_operation(
    change: CardCreate | CardUpdate | CardCheck, table_name: str, dump: Dump
) -> dict[str, Any]:
    """The card's part of a transaction: create, update or only check it, each conditioned."""
    key = {
        "PK": card_pk(change.lookup if not isinstance(change, CardCreate) else change.card.lookup),
        "SK": CARD_SK,
    }
    if isinstance(change, CardCreate):
        return {
            "Put": {
                "TableName": table_name,
                "Item": dump(card_item(change.card, change.customer_sealed)),
                "ConditionExpression": "attribute_not_exists(PK)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    condition = card_condition(change, names, values)
    if isinstance(change, CardCheck):
        operation: dict[str, Any] = {
            "TableName": table_name,
            "Key": dump(key),
            "ConditionExpression": condition,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            operation["ExpressionAttributeNames"] = names
        if values:
            operation["ExpressionAttributeValues"] = dump(values)
        return {"ConditionCheck": operation}
    assignments = []
    fields, if_missing, removed = card_update_fields(change)
    for index, (name, value) in enumerate(fields.items()):
        names[f"#f{index}"] = name
        values[f":f{index}"] = value
        assignments.append(f"#f{index} = :f{index}")
    for index, (name, value) in enumerate(if_missing.items()):
        names[f"#m{index}"] = name
        values[f":m{index}"] = value
        assignments.append(f"#m{index} = if_not_exists(#m{index}, :m{index})")
    names["#version"] = "version"
    values[":one"] = 1
    values[":zero"] = 0
    assignments.append("#version = if_not_exists(#version, :zero) + :one")
    update = "SET " + ", ".join(assignments)
    for index, name in enumerate(removed):
        names[f"#r{index}"] = name
    if removed:
        update += " REMOVE " + ", ".join(f"#r{index}" for index in range(len(removed)))
    return {
        "Update": {
            "TableName": table_name,
            "Key": dump(key),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": dump(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def card_condition(
    change: CardUpdate | CardCheck, names: dict[str, str], values: dict[str, Any]
) -> str:
    if isinstance(change, CardCheck) or change.expect_version is not None:
        if change.expect_version is None:
            return "attribute_not_exists(PK)"
        names["#version"] = "version"
        values[":expected_version"] = change.expect_version
        return "#version = :expected_version"
    names["#state"] = "state"
    states = []
    for index, state in enumerate(change.expect_states):
        values[f":state{index}"] = str(state)
        states.append(f"#state = :state{index}")
    matches = "(" + " OR ".join(states) + ")" if states else "attribute_exists(PK)"
    if change.expect_unfrozen:
        # An operator's block refuses loading (activation) as well as spending.
        names["#frozen"] = FROZEN
        matches = f"({matches} AND attribute_not_exists(#frozen))"
    if change.allow_missing:
        return f"attribute_not_exists(PK) OR {matches}"
    return f"attribute_exists(PK) AND {matches}"


def issuance_operation(charge: IssuanceCharge, table_name: str, dump: Dump) -> dict[str, Any]:
    """Add the amount to the day's counter only while the total stays within the limit
    (atomic with the load, so concurrent loads can never pass it together)."""
    return {
        "Update": {
            "TableName": table_name,
            "Key": dump({"PK": charge.pk, "SK": ISSUANCE_SK}),
            "UpdateExpression": (
                "SET #type = :type, updated_at = :at, #ttl = :ttl ADD issued :amount"
            ),
            "ConditionExpression": "attribute_not_exists(issued) OR issued <= :room",
            "ExpressionAttributeNames": {"#type": "type", "#ttl": table.TTL_ATTRIBUTE},
            "ExpressionAttributeValues": dump(
                {
                    ":type": "issuance",
                    ":at": charge.at,
                    ":ttl": charge.at + ISSUANCE_RETENTION_SECONDS,
                    ":amount": charge.amount,
                    ":room": charge.limit - charge.amount,
                }
            ),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def instrument_operation(
    write: InstrumentWrite, open_shards: int, table_name: str, dump: Dump
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "TableName": table_name,
        "Item": dump(instrument_item(write.instrument, open_shards)),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if write.expect_version is None:
        operation["ConditionExpression"] = "attribute_not_exists(PK)"
    else:
        operation["ConditionExpression"] = "version = :expected_version"
        operation["ExpressionAttributeValues"] = dump({":expected_version": write.expect_version})
    return {"Put": operation}


# operator / test helpers --------------------------------------------------------------------


def pin_charge_update(
    charge: PinCharge, token: str, now_epoch: int, max_failures: int
) -> tuple[str, str, dict[str, str], dict[str, Any]]:
    """(update, condition, names, values) of the write that charges one PIN guess: only while the
    card has a PIN and, for the optimistic charge, is unlocked with more than one guess left;
    otherwise only if the window is as read. Never when the last charge is ``token``'s own."""
    names = {"#failures": "pin_failures", "#lock": "pin_locked_until", "#charge": "pin_charge"}
    values: dict[str, Any] = {":token": token}
    own = "(attribute_not_exists(#charge) OR #charge <> :token)"
    if charge.expect is None:
        names["#hard"] = "pin_hard_locked"
        values.update({":one": 1, ":zero": 0, ":last": max_failures - 1, ":now": now_epoch})
        values[":no"] = False
        update = "SET #failures = if_not_exists(#failures, :zero) + :one, #charge = :token"
        condition = (
            "attribute_exists(pin_hash)"
            " AND (attribute_not_exists(#failures) OR #failures < :last)"
            " AND (attribute_not_exists(#lock) OR #lock <= :now)"
            " AND (attribute_not_exists(#hard) OR #hard = :no)"
            f" AND {own}"
        )
    else:
        names.update({"#lockouts": "pin_lockouts", "#hard": "pin_hard_locked"})
        values.update(
            {
                ":failures": charge.failures,
                ":lock": charge.locked_until,
                ":lockouts": charge.lockouts,
                ":hard": charge.hard_locked,
                ":seen_failures": charge.expect[0],
                ":seen_lock": charge.expect[1],
            }
        )
        update = (
            "SET #failures = :failures, #lock = :lock, #lockouts = :lockouts,"
            " #hard = :hard, #charge = :token"
        )
        condition = (
            "attribute_exists(pin_hash) AND #failures = :seen_failures"
            f" AND #lock = :seen_lock AND {own}"
        )
    return update, condition, names, values
