"""A synthetic table for the audit at scale (the long suite and ``make bench``): active cards in
three currencies, issued up to six years ago, one in five with an open reservation, and
optionally a few corrupted (balance edited behind the service's back). Items are built with the
service's own ``giftcard.items`` builders and written with ``BatchWriteItem``."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from giftcard.cards import Card, CardState, Instrument
from giftcard.clock import Instant
from giftcard.items import card_id, card_item, entry_item, instrument_item
from giftcard.writes import LedgerEntry

DAY = 86400
CURRENCIES = ("USD", "EUR", "JPY")


@dataclass
class SyntheticTable:
    items: list[dict[str, Any]] = field(default_factory=list)
    #: (currency, "cards" | "outstanding") -> what the stored cards say (an independent sum).
    expected: Counter[tuple[str, str]] = field(default_factory=Counter)
    corrupted: set[str] = field(default_factory=set)


def synthetic_table(cards: int, start: int, *, corrupted: int = 0, seed: int = 1) -> SyntheticTable:
    rng = random.Random(seed)
    table = SyntheticTable()
    every = cards // corrupted if corrupted else 0
    for index in range(cards):
        lookup = f"scale{index:07d}"
        currency = CURRENCIES[index % len(CURRENCIES)]
        loaded = rng.randint(1, 50_000)
        held = rng.randint(0, loaded) if index % 5 == 0 else 0
        issued = Instant(start - rng.randint(DAY, 6 * 365 * DAY))
        card = Card(
            lookup=lookup,
            state=CardState.ACTIVE,
            last4=f"{index % 10_000:04d}",
            currency=currency,
            balance=loaded - held,
            held=held,
            created_at=issued.iso,
            activated_at=issued.iso,
        )
        entries = [
            LedgerEntry(lookup, "issue", loaded, currency, 0, loaded, 0, 0, issued.iso_micro, "r")
        ]
        if held:
            at = issued.plus(3600).iso_micro
            entries.append(
                LedgerEntry(lookup, "hold", 0, currency, loaded, loaded - held, 0, held, at, "r")
            )
            reservation = Instrument(f"i{index}", lookup, currency, held, 0, 0, 0, 1, at, start)
            table.items.append(instrument_item(reservation, 8))
        stored = card_item(card)
        if every and index % every == 1 and len(table.corrupted) < corrupted:
            stored["balance"] = card.balance + 1
            table.corrupted.add(card_id(lookup))
        table.expected[(currency, "cards")] += 1
        table.expected[(currency, "outstanding")] += int(stored["balance"]) + int(stored["held"])
        table.items.append(stored)
        table.items += [entry_item(entry) for entry in entries]
    return table


def write(client: Any, table_name: str, items: list[dict[str, Any]]) -> None:
    from boto3.dynamodb.types import TypeSerializer

    serialize = TypeSerializer().serialize
    for start in range(0, len(items), 25):
        batch = [
            {"PutRequest": {"Item": {k: serialize(v) for k, v in item.items()}}}
            for item in items[start : start + 25]
        ]
        request: dict[str, Any] = {table_name: batch}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
