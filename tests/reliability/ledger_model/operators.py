"""The rules of the back office: freeze, unfreeze, unlock PIN, adjust (keyed, with faults like
the webhooks), expiry, customer erasure, and a lookup that must show the model's card."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from giftcard.cards import CardState, luhn_valid
from giftcard.items import card_id
from tests.reliability.ledger_model.base import LedgerBase
from tests.reliability.ledger_model.harness import ACTOR, major, major_text, parse_raw_numbers
from tests.reliability.ledger_model.model import DIGITS, MAX_MINOR, Expect, ModelCard
from tests.reliability.ledger_model.strategies import faults, payment_keys, targets

#: An adjustment: (kind, minor units, currency); the sign is drawn apart.
adjustments = st.one_of(
    st.tuples(st.just("ok"), st.integers(1, 10_000), st.sampled_from(sorted(DIGITS))),
    st.tuples(st.just("ok"), st.integers(1, 10**7), st.sampled_from(sorted(DIGITS))),
    st.tuples(
        st.sampled_from(["zero", "too_big", "too_precise"]),
        st.integers(1, 10_000),
        st.sampled_from(sorted(DIGITS)),
    ),
)
REASON = "ledger model: operator action"


class OperatorRules(LedgerBase):
    def name_card(self, number: str, card: ModelCard | None, by_id: bool) -> dict[str, str]:
        """The request's card: its number, or (known cards, sometimes) its card_id."""
        if by_id and card is not None:
            return {"card_id": card_id(self.h.keys.card_lookup(number))}
        return {"number": number}

    def simple_action(
        self,
        name: str,
        which: tuple[str, int],
        by_id: bool,
        fault: tuple[str | None, int],
        fields: dict[str, Any],
        change: Any,
    ) -> None:
        """freeze / unfreeze / unlock_pin / expiry: ``change(card)`` returns the model's change
        (a callable), None when the card is already as asked, or an error code."""
        self.h.clock.advance(1)  # time passes between requests
        number, card = self.pick(which)
        body = {**self.name_card(number, card, by_id), "reason": REASON, **fields}
        if card is None:
            expect = Expect(404, "card_not_found", transacts=False)
        else:
            decided = change(card)
            if isinstance(decided, str):
                expect = Expect(400, decided, transacts=False)
            elif decided is None:
                expect = Expect(200, transacts=False)  # unchanged: nothing is written
            else:
                expect = Expect(200, commit=lambda _parsed: decided())
        if card is not None and expect.status == 200:
            expect.check = lambda parsed: self.check_card(parsed["card"], card, decided)
        self.mutate(name, body, None, fault, expect)

    def check_card(self, shown: dict[str, Any], card: ModelCard, change: Any = None) -> None:
        """The answer's card is the model's card (after ``change``, when it commits)."""
        expected = ModelCard(**{**card.__dict__})
        if callable(change):
            saved = dict(card.__dict__)
            change()
            expected = ModelCard(**{**card.__dict__})
            card.__dict__.update(saved)
        assert shown["state"] == str(expected.state) and shown["currency"] == expected.currency
        if expected.currency is not None:
            digits = DIGITS[expected.currency]
            assert shown["balance"]["value"] == major_text(expected.balance, digits)
            assert shown["held"]["value"] == major_text(expected.held, digits)
        assert (shown["frozen"] is not None) == expected.frozen
        if expected.frozen:
            assert shown["frozen"]["by"] == ACTOR and shown["frozen"]["reason"] == REASON
        assert shown["expires_at"] == expected.expires_at
        assert shown["pin"]["hard_locked"] == expected.hard_locked
        assert shown["pin"]["has_pin"] == bool(expected.pin)
        assert (shown["customer"] is not None) == (expected.customer is not None)
        lookup = self.h.keys.card_lookup(expected.number)
        reserving = [
            i for i in self.instruments.values() if i.number == expected.number and i.reserved > 0
        ]
        assert int(shown["open_reservations"]) == len(reserving)
        assert shown["card_id"] == card_id(lookup) and shown["last4"] == expected.number[-4:]

    @rule(which=targets, by_id=st.booleans(), fault=faults)
    def freeze(self, which: tuple[str, int], by_id: bool, fault: tuple[str | None, int]) -> None:
        def change(card: ModelCard) -> Any:
            if card.frozen:
                return None
            return lambda: setattr(card, "frozen", True)

        self.simple_action("freeze", which, by_id, fault, {}, change)

    @rule(which=targets, by_id=st.booleans(), fault=faults)
    def unfreeze(self, which: tuple[str, int], by_id: bool, fault: tuple[str | None, int]) -> None:
        def change(card: ModelCard) -> Any:
            if not card.frozen:
                return None
            return lambda: setattr(card, "frozen", False)

        self.simple_action("unfreeze", which, by_id, fault, {}, change)

    @rule(which=targets, by_id=st.booleans(), fault=faults)
    def unlock_pin(
        self, which: tuple[str, int], by_id: bool, fault: tuple[str | None, int]
    ) -> None:
        def change(card: ModelCard) -> Any:
            if (card.failures, card.locked_until, card.lockouts, card.hard_locked) == (
                0,
                0,
                0,
                False,
            ):
                return None

            def unlocked() -> None:
                card.failures, card.locked_until, card.lockouts, card.hard_locked = 0, 0, 0, False

            return unlocked

        self.simple_action("unlock_pin", which, by_id, fault, {}, change)

    @rule(
        which=targets,
        by_id=st.booleans(),
        offset=st.one_of(st.none(), st.integers(-3600, 7200)),
        fault=faults,
    )
    def expiry(
        self,
        which: tuple[str, int],
        by_id: bool,
        offset: int | None,
        fault: tuple[str | None, int],
    ) -> None:
        # (advanced here so the drawn time is relative to the request's own clock)
        at = None
        if offset is not None:
            at = datetime.fromtimestamp(self.now + 1 + offset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        def change(card: ModelCard) -> Any:
            if card.state is CardState.DEACTIVATED:
                return "card_deactivated"
            if card.expires_at == at:
                return None
            return lambda: setattr(card, "expires_at", at)

        self.simple_action("expiry", which, by_id, fault, {"expires_at": at}, change)

    @rule(
        which=targets,
        by_id=st.booleans(),
        amount=adjustments,
        negative=st.booleans(),
        key=payment_keys,
        fault=faults,
    )
    def adjust(
        self,
        which: tuple[str, int],
        by_id: bool,
        amount: tuple[str, int, str],
        negative: bool,
        key: str | None,
        fault: tuple[str | None, int],
    ) -> None:
        self.h.clock.advance(1)  # time passes between requests
        number, card = self.pick(which)
        kind, minor, currency = amount
        digits = DIGITS[currency]
        if kind == "zero":
            value = major(0, digits)
        elif kind == "too_big":
            minor = MAX_MINOR[currency] + minor
            value = major(minor, digits)
        elif kind == "too_precise":
            value = major(minor * 10 + 7, digits + 1)
        else:
            value = major(minor, digits)
        signed = -minor if negative else minor
        body: dict[str, Any] = {
            **self.name_card(number, card, by_id),
            "amount": {"value": -value if negative else value, "currency": currency},
            "reason": REASON,
        }
        named_by_number = "number" in body
        expect = self.expect_adjust(card, kind, signed, currency, key)
        self.mutate(
            "adjust",
            body,
            key,
            fault,
            expect,
            replay_transacts=named_by_number and not luhn_valid(number),
            key_field="idempotency_key",
        )

    def expect_adjust(
        self, card: ModelCard | None, kind: str, signed: int, currency: str, key: str | None
    ) -> Expect:
        if key is None or kind in ("zero", "too_precise"):
            return Expect(400, "invalid_request")
        if kind == "too_big":
            return Expect(400, "amount_out_of_range")
        if card is None:
            return Expect(404, "card_not_found", stored=True)
        if card.state is not CardState.ACTIVE:
            return Expect(400, "card_not_active", stored=True)
        if card.currency != currency:
            return Expect(400, "currency_mismatch", stored=True)
        after = card.balance + signed
        if after < 0:
            return Expect(400, "insufficient_funds", stored=True)
        if after + card.held > MAX_MINOR[currency]:
            return Expect(400, "amount_out_of_range", stored=True)
        digits = DIGITS[currency]

        def check(parsed: Any) -> None:
            entry = parsed["entry"]
            assert entry["kind"] == "adjust" and entry["actor"] == ACTOR
            assert entry["amount"]["value"] == (
                "-" + major_text(-signed, digits) if signed < 0 else major_text(signed, digits)
            )
            assert parsed["card"]["balance"]["value"] == major_text(after, digits)

        def commit(_parsed: Any) -> None:
            card.balance = after

        return Expect(200, stored=True, check=check, commit=commit)

    @rule(fault=faults)
    def erase_customer(self, fault: tuple[str | None, int]) -> None:
        self.h.clock.advance(1)  # time passes between requests
        holders = [card for card in self.cards.values() if card.customer == "indexed"]

        def check(parsed: Any) -> None:
            assert parsed == {"erased_cards": str(len(holders))}

        def commit(_parsed: Any) -> None:
            for card in holders:
                card.customer = None

        expect = Expect(200, transacts=bool(holders), check=check, commit=commit)
        body = {"customer_id": "c-1", "reason": REASON}
        self.mutate("customers_erase", body, None, fault, expect)

    @precondition(lambda self: bool(self.cards))
    @rule(which=targets)
    def lookup(self, which: tuple[str, int]) -> None:
        """What support sees is the model's card (no storage fault: a read)."""
        number, card = self.pick(("card", which[1]))
        assert card is not None
        status, text = self.send("lookup", {"number": number})
        assert status == 200, text
        self.check_card(parse_raw_numbers(text)["card"], card)
