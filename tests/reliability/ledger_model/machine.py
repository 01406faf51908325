"""The ledger machine: every rule family and the invariants in one state machine, plus the rules
that cross families: a replay of any stored key with other parameters, and wrong guesses racing a
right PIN."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from giftcard import aws
from giftcard.cards import luhn_valid
from tests.reliability.ledger_model.audit import AuditRules
from tests.reliability.ledger_model.harness import error_code, major
from tests.reliability.ledger_model.invariants import StorageInvariants
from tests.reliability.ledger_model.model import DIGITS, PAYMENT_COMMANDS, Expect, amount_body
from tests.reliability.ledger_model.operators import REASON, OperatorRules
from tests.reliability.ledger_model.redemption import RedemptionRules
from tests.reliability.ledger_model.strategies import NO_FAULT, faults, pin_kinds, targets
from tests.reliability.ledger_model.webhooks import WebhookRules


class LedgerMachine(WebhookRules, RedemptionRules, OperatorRules, AuditRules, StorageInvariants):
    @precondition(lambda self: bool(self.replies))
    @rule(
        choice=st.integers(0, 10**6),
        which=targets,
        amount=st.tuples(st.just("ok"), st.integers(1, 10**6), st.sampled_from(sorted(DIGITS))),
        pin=pin_kinds,
        fault=faults,
    )
    def replay_with_other_parameters(
        self,
        choice: int,
        which: tuple[str, int],
        amount: tuple[str, int, str],
        pin: str,
        fault: tuple[str | None, int],
    ) -> None:
        self.h.clock.advance(1)  # time passes between requests
        name, key = list(self.replies)[choice % len(self.replies)]
        number, card = self.pick(which)
        money, _ = amount_body(*amount)
        body: dict[str, Any]
        instrument_id = None
        key_field = "idempotence_key"
        if name == "issue":
            body = {"amount": money, "customer": {"name": "Someone Else"}}
        elif name == "activate":
            body = {"card_number": number, "amount": money}
        elif name == "deactivate":
            body = {"card_number": number, "pin": self.pin_to_send(card, pin, choice) or "0000"}
        elif name == "adjust":
            key_field = "idempotency_key"
            body = {"number": number, "amount": money, "reason": REASON}
        elif name == "instrument_create":
            key_field = "idempotency_key"
            body = {
                "instrument": {"number": number, "pin": self.pin_to_send(card, pin, choice)},
                **{"amount": money["value"], "currency": money["currency"]},
            }
        else:
            key_field = "idempotency_key"
            instrument_id = self.pick_instrument(("known", choice))
            body = {"amount": money["value"], "currency": money["currency"]}
        # Whatever the new parameters would do, the stored response comes back unchanged.
        # (deactivate and the payment operations find their record with a read; a number that
        # cannot be a card is refused before any read, through the transaction)
        reads_first = name in ("deactivate", "instrument_create", "adjust") and luhn_valid(number)
        replay_transacts = not reads_first and name not in PAYMENT_COMMANDS
        self.mutate(
            name,
            body,
            key,
            fault,
            Expect(200),
            replay_transacts=replay_transacts,
            instrument_id=instrument_id,
            key_field=key_field,
        )

    @precondition(lambda self: any(c.pin for c in self.cards.values()))
    @rule(
        choice=st.integers(0, 10**6),
        guesses=st.integers(1, 7),
        operation=st.sampled_from(["instrument_create", "deactivate"]),
        wait=st.sampled_from([0, 0, 900, 86400]),
    )
    def guesses_race_a_right_pin(
        self, choice: int, guesses: int, operation: str, wait: int
    ) -> None:
        """The reproduction of the lockout hole: a request with the right PIN has read the card
        (its ``BatchGetItem``) when a burst of wrong guesses is counted. The right PIN must be
        answered from the count as it is once its own guess is charged, never from its read:
        refused once the guesses locked the card, accepted within the window."""
        self.h.clock.advance(1 + wait)  # sometimes a lock has ended meanwhile
        with_pin = [number for number, card in self.cards.items() if card.pin]
        number = with_pin[choice % len(with_pin)]
        card = self.cards[number]
        wrong = self.pin_to_send(card, "wrong", choice)
        nested: list[tuple[int, str]] = []
        client = aws.client("dynamodb")

        def burst(**_: Any) -> None:
            client.meta.events.unregister("after-call.dynamodb.BatchGetItem", burst)
            for _guess in range(guesses):
                nested.append(
                    self.h.call("balance", {"identifier": {"number": number, "pin": wrong}})
                )

        # The model: the guesses are counted first, then the right PIN is checked.
        for _guess in range(guesses):
            counted = Expect(400, "invalid_card")
            self.pin_check(card, wrong, counted)
            for effect in counted.pin_effect:
                effect()
        key = f"race-{uuid.uuid4().hex[:8]}"
        if operation == "instrument_create":
            minor = max(1, card.balance // 2) if card.currency else 1
            currency = card.currency or "USD"
            body: dict[str, Any] = {
                "instrument": {"number": number, "pin": card.pin},
                "amount": major(minor, DIGITS[currency]),
                "currency": currency,
                "account_id": "order-1",
                "metadata": {"store_id": "store-1"},
            }
            expect = self.expect_reserve(card, card.pin, minor, currency, False, key)
            key_field = "idempotency_key"
        else:
            body = {"card_number": number, "pin": card.pin}
            expect = self.expect_deactivate(card, card.pin, key)
            key_field = "idempotence_key"
        client.meta.events.register("after-call.dynamodb.BatchGetItem", burst)
        try:
            self.mutate(operation, body, key, NO_FAULT, expect, key_field=key_field)
        finally:
            client.meta.events.unregister("after-call.dynamodb.BatchGetItem", burst)
        assert len(nested) == guesses
        assert all(error_code(*answer) == "invalid_card" for answer in nested)
        event(f"race: {guesses} guesses, then {operation}: {expect.status} {expect.code or ''}")
