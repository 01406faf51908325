"""What storage must equal after every step (``storage_matches_model``)."""

from __future__ import annotations

from hypothesis.stateful import invariant

from giftcard.cards import STATE_ORDER
from giftcard.items import (
    INSTRUMENT_PREFIX,
    card_from_item,
    card_pk,
    entry_from_item,
    instrument_from_item,
)
from giftcard.writes import OPERATOR_KINDS
from tests.reliability.ledger_model.base import LedgerBase
from tests.reliability.ledger_model.harness import ACTOR

#: The operator actions that move no money (every kind of theirs but adjust).
RECORDLESS_KINDS = frozenset(OPERATOR_KINDS) - {"adjust"}


class StorageInvariants(LedgerBase):
    @invariant()
    def storage_matches_model(self) -> None:
        items = list(self.h.repository.scan_all())
        cards = {item["PK"]: card_from_item(item) for item in items if item["type"] == "card"}
        entries = [entry_from_item(item) for item in items if item["type"] == "entry"]
        records = {item["PK"]: item for item in items if item["type"] == "record"}
        instruments = {
            item["PK"].removeprefix(INSTRUMENT_PREFIX): instrument_from_item(item)
            for item in items
            if item["type"] == "instrument"
        }
        assert set(instruments) == set(self.instruments), "instruments differ from the model"
        for instrument_id, model_instrument in self.instruments.items():
            stored_instrument = instruments[instrument_id]
            amounts_now = (
                stored_instrument.authorized,
                stored_instrument.captured,
                stored_instrument.refunded,
                stored_instrument.released,
            )
            amounts_model = (
                model_instrument.authorized,
                model_instrument.captured,
                model_instrument.refunded,
                model_instrument.released,
            )
            assert amounts_now == amounts_model, "an instrument's amounts differ from the model"
            assert stored_instrument.reserved >= 0 and stored_instrument.refundable >= 0

        assert len(cards) == len(self.cards), "cards in the table differ from the model"
        assert len(records) == self.records, "idempotency records differ from the model"
        # (404: the back office's adjust of an unknown card, a refusal stored like the 400s)
        assert all(int(item["status"]) in (200, 400, 404) for item in records.values())
        # An operator's action that moves no money keeps no record (it is idempotent by what it
        # changes); every other entry belongs to exactly one stored record.
        unowned = [entry for entry in entries if not entry.record_pk]
        assert all(e.kind in RECORDLESS_KINDS and e.amount == 0 for e in unowned), (
            "a ledger entry that moves money without its idempotency record"
        )
        assert all(e.actor == ACTOR and e.reason for e in unowned), "an operator entry's who/why"
        owners = [entry.record_pk for entry in entries if entry.record_pk]
        assert len(owners) == len(set(owners)), "two ledger entries for one idempotency record"
        assert set(owners) <= set(records), "a ledger entry without its idempotency record"

        keys = self.h.keys
        for number, expected in self.cards.items():
            lookup = keys.card_lookup(number)
            stored = cards.get(card_pk(lookup))
            label = f"card ...{number[-4:]}"
            assert stored is not None, f"{label} missing"
            assert stored.state is expected.state, f"{label}: state {stored.state}"
            assert (stored.balance, stored.held) == (expected.balance, expected.held), (
                f"{label}: balance or held differs from the model"
            )
            open_reservations = sum(
                i.reserved for i in instruments.values() if i.lookup == lookup and i.reserved > 0
            )
            assert stored.held == open_reservations, f"{label}: held != open reservations"
            assert stored.currency == expected.currency, f"{label}: currency"
            assert stored.balance >= 0 and stored.held >= 0
            pin = (
                stored.pin_failures,
                stored.pin_locked_until,
                stored.pin_lockouts,
                stored.pin_hard_locked,
            )
            assert pin == (
                expected.failures,
                expected.locked_until,
                expected.lockouts,
                expected.hard_locked,
            ), f"{label}: PIN guess counter, lock or lockout streak differs from the model"
            assert stored.pin_failures <= self.h.settings.pin_max_failures
            assert stored.deactivated_at == expected.deactivated_at, f"{label}: deactivated_at"
            assert (stored.frozen is not None) == expected.frozen, f"{label}: frozen flag"
            assert stored.expires_at == expected.expires_at, f"{label}: expires_at"
            assert (stored.customer_key is not None) == (expected.customer == "indexed"), (
                f"{label}: customer index key"
            )
            before = self.seen_states.get(lookup)
            assert before is None or STATE_ORDER[stored.state] >= STATE_ORDER[before], (
                f"{label}: state moved backwards"
            )
            self.seen_states[lookup] = stored.state

            ledger = sorted((e for e in entries if e.lookup == lookup), key=lambda e: e.sk)
            assert sum(e.amount for e in ledger) == stored.balance + stored.held, (
                f"{label}: balance + held differs from the sum of the ledger"
            )
            running = (0, 0)
            for entry in ledger:
                assert (entry.balance_before, entry.held_before) == running, f"{label}: chain"
                assert entry.amount == (entry.balance_after + entry.held_after) - sum(running)
                assert entry.balance_after >= 0 and entry.held_after >= 0
                running = (entry.balance_after, entry.held_after)
            assert running == (stored.balance, stored.held), f"{label}: last entry"
