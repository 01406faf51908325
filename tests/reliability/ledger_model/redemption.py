"""The rules of redemption: reserve (instrument create), capture, refund, revoke, and the
reservation expiry job."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from giftcard.cards import CardState, luhn_valid
from tests.reliability.ledger_model.base import LedgerBase
from tests.reliability.ledger_model.harness import major
from tests.reliability.ledger_model.model import (
    DIGITS,
    MAX_MINOR,
    RESERVATION_SECONDS,
    Expect,
    ModelCard,
    ModelInstrument,
    other_currency,
    payment_minor,
    signed_text,
    spelled,
)
from tests.reliability.ledger_model.strategies import (
    currency_choices,
    faults,
    instrument_targets,
    payment_amounts,
    payment_keys,
    reserve_pins,
    reserve_targets,
    spellings,
)


class RedemptionRules(LedgerBase):
    def pick_instrument(self, which: tuple[str, int]) -> str:
        kind, seed = which
        if kind == "known" and self.instruments:
            return list(self.instruments)[seed % len(self.instruments)]
        if kind == "foreign":
            return str(uuid.UUID(int=seed)) if seed % 2 else f"order-{seed}"
        return f"{seed:032x}"

    def check_transactions(
        self,
        parsed: Any,
        instrument_id: str,
        currency: str,
        expected: list[tuple[str, int, int]],
    ) -> None:
        """The answer's transactions: (reason, capture change, refund change) in minor units."""
        digits = DIGITS[currency]
        transactions = parsed["transactions"]
        assert [(t["reason"], t["capture_amount"], t["refund_amount"]) for t in transactions] == [
            (reason, signed_text(c, digits), signed_text(r, digits)) for reason, c, r in expected
        ]
        for transaction in transactions:
            assert transaction["instrument_id"] == instrument_id
            assert transaction["currency"] == currency
            assert transaction["processed_at"] == self.h.clock.now().iso
            assert transaction["metadata"] == {"store_id": "store-1"}
            uuid.UUID(transaction["transaction_id"])
        ids = {t["transaction_id"] for t in transactions}
        assert len(ids) == len(transactions), "transaction ids repeat"

    @rule(
        which=reserve_targets,
        spelling=spellings,
        pin=reserve_pins,
        pin_seed=st.integers(0, 10**6),
        amount=payment_amounts,
        currency_choice=currency_choices,
        allow_partial=st.booleans(),
        key=payment_keys,
        fault=faults,
    )
    def reserve(
        self,
        which: tuple[str, int],
        spelling: str,
        pin: str,
        pin_seed: int,
        amount: tuple[str, int, int],
        currency_choice: str,
        allow_partial: bool,
        key: str | None,
        fault: tuple[str | None, int],
    ) -> None:
        self.h.clock.advance(1)  # time passes between requests
        number, card = self.pick(which)
        card_currency = card.currency if card is not None else None
        currency = card_currency if currency_choice == "same" and card_currency else "USD"
        if currency_choice == "other":
            currency = other_currency(card_currency)
        digits = DIGITS[currency]
        available = card.balance if card is not None and card.currency == currency else 0
        minor = payment_minor(amount, available)
        sent = self.pin_to_send(card, pin, pin_seed)
        instrument: dict[str, Any] = {"number": spelled(number, spelling)}
        if sent is not None:
            instrument["pin"] = sent
        body: dict[str, Any] = {
            "instrument": instrument,
            "amount": major(minor, digits),
            "currency": currency,
            "allow_partial": allow_partial,
            "account_id": "order-1",
            "metadata": {"store_id": "store-1"},
        }
        expect = self.expect_reserve(card, sent, minor, currency, allow_partial, key)
        self.mutate(
            "instrument_create",
            body,
            key,
            fault,
            expect,
            replay_transacts=not luhn_valid(number),
            key_field="idempotency_key",
        )

    def expect_reserve(
        self,
        card: ModelCard | None,
        pin: str | None,
        minor: int,
        currency: str,
        allow_partial: bool,
        key: str | None,
    ) -> Expect:
        if key is None:
            return Expect(400, "invalid_request")
        if minor > MAX_MINOR[currency]:
            return Expect(400, "amount_out_of_range")
        refused = Expect(400, "instrument_error", stored=True)
        if card is None:
            return refused
        if card.pin and self.pin_check(card, pin, refused):
            return refused
        if card.frozen or card.state is not CardState.ACTIVE or card.currency != currency:
            return refused
        if card.expired(self.h.clock.now().iso):
            return refused
        reserved = min(minor, card.balance) if allow_partial else minor
        if reserved <= 0 or reserved > card.balance:
            return refused
        expect = Expect(200, stored=True, pin_effect=refused.pin_effect)
        expires_at = self.now + RESERVATION_SECONDS

        def check(parsed: Any) -> None:
            instrument_id = parsed["identifier"]
            assert re.fullmatch(r"[A-Za-z0-9_-]{80}", instrument_id)
            assert instrument_id not in self.instruments
            self.check_transactions(
                parsed, instrument_id, currency, [("authorization", reserved, 0)]
            )

        def commit(parsed: Any) -> None:
            card.balance -= reserved
            card.held += reserved
            instrument_id = parsed["identifier"]
            self.instruments[instrument_id] = ModelInstrument(
                instrument_id, card.number, currency, reserved, expires_at
            )

        expect.check, expect.commit = check, commit
        return expect

    def payment_command(
        self,
        name: str,
        which: tuple[str, int],
        amount: tuple[str, int, int],
        currency_choice: str,
        key: str | None,
        fault: tuple[str | None, int],
        decide: Callable[[ModelInstrument, ModelCard, int], Expect],
        available: Callable[[ModelInstrument], int],
        *,
        omit_amount: bool = False,
        omit_currency: bool = False,
    ) -> None:
        """capture / refund / revoke: the checks they share, then ``decide`` for the rest."""
        self.h.clock.advance(1)  # time passes between requests
        instrument_id = self.pick_instrument(which)
        known = self.instruments.get(instrument_id)
        own_currency = known.currency if known is not None else "USD"
        currency = own_currency if currency_choice == "same" else other_currency(own_currency)
        digits = DIGITS[own_currency if omit_currency else currency]
        minor = payment_minor(amount, available(known) if known is not None else 0)
        body: dict[str, Any] = {"metadata": {"store_id": "store-1"}}
        if not omit_amount:
            body["amount"] = major(minor, digits)
        if not omit_currency:
            body["currency"] = currency
        over_maximum = not omit_amount and minor > MAX_MINOR[currency]
        expect: Expect
        if key is None:
            expect = Expect(400, "invalid_request")
        elif known is None:
            expect = Expect(400, "failed_command", stored=True)
        elif not omit_currency and currency != known.currency:
            expect = Expect(400, "instrument_error", stored=True)
        elif over_maximum:
            expect = Expect(400, "failed_command", stored=True)
        else:
            card = self.cards[known.number]
            expect = decide(known, card, known.reserved if omit_amount else minor)
        self.mutate(
            name,
            body,
            key,
            fault,
            expect,
            replay_transacts=False,
            instrument_id=instrument_id,
            key_field="idempotency_key",
        )

    @precondition(lambda self: bool(self.instruments))
    @rule(
        which=instrument_targets,
        amount=payment_amounts,
        currency_choice=currency_choices,
        key=payment_keys,
        fault=faults,
    )
    def capture(
        self,
        which: tuple[str, int],
        amount: tuple[str, int, int],
        currency_choice: str,
        key: str | None,
        fault: tuple[str | None, int],
    ) -> None:
        def decide(instrument: ModelInstrument, card: ModelCard, minor: int) -> Expect:
            if self.now >= instrument.expires_at or minor > instrument.reserved:
                return Expect(400, "failed_command", stored=True)

            def check(parsed: Any) -> None:
                self.check_transactions(
                    parsed,
                    instrument.instrument_id,
                    instrument.currency,
                    [("capture", -minor, 0), ("capture", 0, minor)],
                )

            def commit(_parsed: Any) -> None:
                instrument.captured += minor
                card.held -= minor

            return Expect(200, stored=True, check=check, commit=commit)

        self.payment_command(
            "instrument_capture",
            which,
            amount,
            currency_choice,
            key,
            fault,
            decide,
            lambda instrument: instrument.reserved,
        )

    @precondition(lambda self: bool(self.instruments))
    @rule(
        which=instrument_targets,
        amount=payment_amounts,
        currency_choice=currency_choices,
        key=payment_keys,
        fault=faults,
    )
    def refund(
        self,
        which: tuple[str, int],
        amount: tuple[str, int, int],
        currency_choice: str,
        key: str | None,
        fault: tuple[str | None, int],
    ) -> None:
        def decide(instrument: ModelInstrument, card: ModelCard, minor: int) -> Expect:
            if minor > instrument.refundable:
                return Expect(400, "failed_command", stored=True)
            if card.state is CardState.DEACTIVATED or card.expired(self.h.clock.now().iso):
                return Expect(400, "instrument_error", stored=True)
            # (a frozen card still takes refunds: the block stops spending, not money back)

            def check(parsed: Any) -> None:
                self.check_transactions(
                    parsed, instrument.instrument_id, instrument.currency, [("refund", 0, -minor)]
                )

            def commit(_parsed: Any) -> None:
                instrument.refunded += minor
                card.balance += minor

            return Expect(200, stored=True, check=check, commit=commit)

        self.payment_command(
            "instrument_refund",
            which,
            amount,
            currency_choice,
            key,
            fault,
            decide,
            lambda instrument: instrument.refundable,
        )

    @precondition(lambda self: bool(self.instruments))
    @rule(
        which=instrument_targets,
        amount=payment_amounts,
        currency_choice=currency_choices,
        omit=st.sampled_from(["nothing", "amount", "currency", "both"]),
        key=payment_keys,
        fault=faults,
    )
    def revoke(
        self,
        which: tuple[str, int],
        amount: tuple[str, int, int],
        currency_choice: str,
        omit: str,
        key: str | None,
        fault: tuple[str | None, int],
    ) -> None:
        def decide(instrument: ModelInstrument, card: ModelCard, minor: int) -> Expect:
            if instrument.reserved == 0 or minor > instrument.reserved:
                return Expect(400, "failed_command", stored=True)

            def check(parsed: Any) -> None:
                self.check_transactions(
                    parsed, instrument.instrument_id, instrument.currency, [("revoke", -minor, 0)]
                )

            def commit(_parsed: Any) -> None:
                self.release(instrument, minor)

            return Expect(200, stored=True, check=check, commit=commit)

        self.payment_command(
            "instrument_revoke",
            which,
            amount,
            currency_choice,
            key,
            fault,
            decide,
            lambda instrument: instrument.reserved,
            omit_amount=omit in ("amount", "both"),
            omit_currency=omit in ("currency", "both"),
        )

    def release(self, instrument: ModelInstrument, minor: int) -> None:
        """Reserved money back to the card, or voided when the card was deactivated."""
        card = self.cards[instrument.number]
        instrument.released += minor
        card.held -= minor
        if card.state is not CardState.DEACTIVATED:
            card.balance += minor

    @rule()
    def reservation_expiry_job(self) -> None:
        self.h.clock.advance(1)
        due = [i for i in self.instruments.values() if i.reserved > 0 and self.now >= i.expires_at]
        summary = self.h.run_expiry_job()
        event(f"reservation expiry job: released {min(len(due), 2)}{'+' if len(due) > 2 else ''}")
        assert (summary["released"], summary["failed"]) == (len(due), 0)
        for instrument in due:
            self.release(instrument, instrument.reserved)
            self.records += 1
