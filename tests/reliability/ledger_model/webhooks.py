"""The rules of the card webhooks: issue, printed stock import, activate, deactivate, balance
(right, wrong, missing PIN), and waiting (lockouts end, reservations expire)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from giftcard.cards import CardState, luhn_valid
from giftcard.stock import import_stock
from tests.reliability.faults import CONFLICT, THROTTLE
from tests.reliability.ledger_model.base import LedgerBase
from tests.reliability.ledger_model.harness import (
    card_number,
    error_code,
    major_text,
    parse_raw_numbers,
)
from tests.reliability.ledger_model.model import (
    DIGITS,
    ISSUE_PREFIX,
    MAX_ATTEMPTS,
    Expect,
    ModelCard,
    amount_body,
    spelled,
)
from tests.reliability.ledger_model.strategies import (
    NO_FAULT,
    amounts,
    faults,
    keys,
    pin_kinds,
    spellings,
    targets,
)
from tests.support.calls import with_bad_check_digit


class WebhookRules(LedgerBase):
    @initialize(
        minor=st.integers(1, 50_000),
        currency=st.sampled_from(sorted(DIGITS)),
        key=st.sampled_from(["k1", None]),
    )
    def first_card(self, minor: int, currency: str, key: str | None) -> None:
        """Every example starts with one funded card (issued through the webhook), so the
        payment operations have something to spend."""
        self.issue(("ok", minor, currency), "refund", key, NO_FAULT)

    @rule(
        amount=amounts,
        operation=st.sampled_from(["activation", "refund"]),
        key=keys,
        fault=faults,
    )
    def issue(
        self,
        amount: tuple[str, int, str],
        operation: str,
        key: str | None,
        fault: tuple[str | None, int],
    ) -> None:
        self.h.clock.advance(1)  # time passes between requests
        money, refused = amount_body(*amount)
        body = {
            "amount": money,
            "customer": {"id": "c-1", "email": "jay@example.com", "name": "Jay Doubleyou"},
            "metadata": {"original_operation": operation, "store_id": "store-1"},
        }
        if refused:
            self.mutate("issue", body, key, fault, Expect(400, refused))
            return
        currency = money["currency"]
        digits = DIGITS[currency]
        minor = int(money["value"].scaleb(digits))
        unfunded = self.need_activation and operation == "activation"

        def check(parsed: Any) -> None:
            number, pin = parsed["identifier"]["number"], parsed["identifier"]["pin"]
            self.secrets.add_card(number, pin)
            # (booleans first: a failing assert must not print the number or PIN)
            well_formed = len(number) == 16 and number.startswith(ISSUE_PREFIX)
            assert well_formed and luhn_valid(number), "issued number malformed"
            fresh = number not in self.cards
            assert fresh, "issued a number that exists"
            pin_ok = len(pin) == 4 and pin.isdigit()
            assert pin_ok, "issued PIN malformed"
            assert parsed["amount"] == {"value": major_text(minor, digits), "currency": currency}

        def commit(parsed: Any) -> None:
            number, pin = parsed["identifier"]["number"], parsed["identifier"]["pin"]
            self.cards[number] = ModelCard(
                number=number,
                pin=pin,
                state=CardState.INACTIVE if unfunded else CardState.ACTIVE,
                currency=None if unfunded else currency,
                balance=0 if unfunded else minor,
                customer="indexed",  # the issue body's customer has an id
            )

        self.mutate("issue", body, key, fault, Expect(200, stored=True, check=check, commit=commit))

    @rule(
        seeds=st.lists(st.integers(0, 10**11), min_size=1, max_size=3, unique=True),
        pins=st.lists(st.one_of(st.none(), st.integers(0, 10**6)), min_size=3, max_size=3),
        existing=st.one_of(st.none(), st.integers(0, 10**6)),
        broken=st.booleans(),
    )
    def import_stock(
        self, seeds: list[int], pins: list[int | None], existing: int | None, broken: bool
    ) -> None:
        self.h.clock.advance(1)  # time passes between requests
        rows: list[tuple[str, str | None]] = []
        for seed, pin_seed in zip(seeds, pins, strict=False):
            number = card_number(seed)
            pin = None if pin_seed is None else str(pin_seed)[: 4 + pin_seed % 3].zfill(4)
            if number not in self.cards and number not in {row[0] for row in rows}:
                rows.append((number, pin))
        known = list(self.cards)
        again = known[existing % len(known)] if existing is not None and known else None
        lines = ["number,pin"] + [f"{n},{p or ''}" for n, p in rows]
        if again is not None:
            lines.append(f"{again},1234")  # a re-import must leave the existing card untouched
        if broken:
            lines.append(f"{with_bad_check_digit(card_number(seeds[0] + 1))},")
        for number, pin in rows:
            self.secrets.add_card(number, pin)
        report = import_stock(lines, self.h.repository, self.h.keys, clock=self.h.clock, workers=1)
        if broken:
            # A file with a rejected row writes nothing.
            assert report.rejected and report.created == 0
            return
        assert not report.rejected
        assert (report.created, report.existing) == (len(rows), 1 if again else 0)
        for number, pin in rows:
            self.cards[number] = ModelCard(number=number, pin=pin, state=CardState.INACTIVE)

    @rule(which=targets, spelling=spellings, amount=amounts, key=keys, fault=faults)
    def activate(
        self,
        which: tuple[str, int],
        spelling: str,
        amount: tuple[str, int, str],
        key: str | None,
        fault: tuple[str | None, int],
    ) -> None:
        self.h.clock.advance(1)  # time passes between requests
        number, card = self.pick(which)
        money, refused = amount_body(*amount)
        body = {
            "card_number": spelled(number, spelling),
            "amount": money,
            "customer": {"email": "jay@example.com"},
            "metadata": {"original_operation": "activation", "store_id": "store-1"},
        }
        if refused:
            expect = Expect(400, refused)
        else:
            currency = money["currency"]
            minor = int(money["value"].scaleb(DIGITS[currency]))
            expect = self.expect_activate(number, card, currency, minor, key)
        self.mutate("activate", body, key, fault, expect)

    def expect_activate(
        self, number: str, card: ModelCard | None, currency: str, minor: int, key: str | None
    ) -> Expect:
        keyed = key is not None

        def check(parsed: Any) -> None:
            normalized = parsed == {"identifier": {"number": number}}
            assert normalized, "activate did not answer with the normalized number"

        if card is None:
            if luhn_valid(number) and self.register_unknown:

                def register(_parsed: Any) -> None:
                    self.cards[number] = ModelCard(
                        number=number,
                        pin=None,
                        state=CardState.ACTIVE,
                        currency=currency,
                        balance=minor,
                        customer="sealed",
                    )
                    self.secrets.add_card(number)

                return Expect(200, stored=True, check=check, commit=register)
            # A number that fails the Luhn check is refused before any read or write.
            return Expect(
                400, "card_not_found", stored=keyed, transacts=keyed or luhn_valid(number)
            )
        if card.frozen:  # whatever its state: the block is what the caller must hear
            return Expect(400, "card_frozen", stored=keyed)
        if card.state is CardState.ACTIVE:
            return Expect(400, "card_already_active", stored=keyed)
        if card.state is CardState.DEACTIVATED:
            return Expect(400, "card_deactivated", stored=keyed)

        def activated(_parsed: Any) -> None:
            card.state, card.currency, card.balance = CardState.ACTIVE, currency, minor
            # The activation's customer (an e-mail) replaces the sealed one; an index key from
            # the issue stays.
            card.customer = card.customer if card.customer == "indexed" else "sealed"

        return Expect(200, stored=True, check=check, commit=activated)

    @rule(
        which=targets,
        spelling=spellings,
        pin=pin_kinds,
        pin_seed=st.integers(0, 10**6),
        key=keys,
        fault=faults,
    )
    def deactivate(
        self,
        which: tuple[str, int],
        spelling: str,
        pin: str,
        pin_seed: int,
        key: str | None,
        fault: tuple[str | None, int],
    ) -> None:
        self.h.clock.advance(1)  # time passes between requests
        number, card = self.pick(which)
        sent = self.pin_to_send(card, pin, pin_seed)
        body: dict[str, Any] = {"card_number": spelled(number, spelling), "store_id": "store-1"}
        if sent is not None:
            body["pin"] = sent
        expect = self.expect_deactivate(card, sent, key)
        self.mutate("deactivate", body, key, fault, expect, replay_transacts=not luhn_valid(number))

    def expect_deactivate(self, card: ModelCard | None, pin: str | None, key: str | None) -> Expect:
        keyed = key is not None
        if card is None:
            return Expect(400, "invalid_card", stored=keyed, transacts=keyed)
        expect = Expect(200)
        if pin and card.pin:
            refused = self.pin_check(card, pin, expect)
            if refused:
                expect.status, expect.code = 400, refused
                expect.stored = expect.transacts = keyed
                return expect
        if card.state is CardState.DEACTIVATED:
            original = card.deactivated_at

            def unchanged(parsed: Any) -> None:
                assert parsed == {"deactivated_at": original}

            expect.check = unchanged
            expect.stored = expect.transacts = keyed
            return expect
        at = self.h.clock.now().iso

        def check(parsed: Any) -> None:
            assert parsed == {"deactivated_at": at}

        def deactivated(_parsed: Any) -> None:
            # Only the spendable balance is voided: reserved money stays capturable.
            card.state, card.balance, card.deactivated_at = CardState.DEACTIVATED, 0, at

        expect.check, expect.commit, expect.stored = check, deactivated, True
        return expect

    @rule(
        which=targets,
        spelling=spellings,
        pin=pin_kinds,
        pin_seed=st.integers(0, 10**6),
        fault=faults,
    )
    def balance(
        self,
        which: tuple[str, int],
        spelling: str,
        pin: str,
        pin_seed: int,
        fault: tuple[str | None, int],
    ) -> None:
        """Balance; ``fault`` hits the PIN failure counter's write (throttled, or its response
        lost after it was written: one wrong PIN must still count once)."""
        self.h.clock.advance(1)  # time passes between requests
        number, card = self.pick(which)
        sent = self.pin_to_send(card, pin, pin_seed)
        identifier: dict[str, Any] = {"number": spelled(number, spelling)}
        if sent is not None:
            identifier["pin"] = sent
        expect = Expect(200)
        if card is None:
            expect.status, expect.code = 400, "invalid_card"
        elif card.pin and (refused := self.pin_check(card, sent, expect)):
            expect.status, expect.code = 400, refused
        elif card.frozen:
            expect.status, expect.code = 400, "card_frozen"
        elif card.state is CardState.INACTIVE:
            expect.status, expect.code = 400, "card_not_active"
        elif card.state is CardState.DEACTIVATED:
            expect.status, expect.code = 400, "card_deactivated"
        elif card.expired(self.h.clock.now().iso):
            expect.status, expect.code = 400, "card_expired"
        # A PIN sent with a plausible number is charged (a conditional write) before anything
        # else, known card or not; without a PIN the card is only read.
        charged = bool(sent) and luhn_valid(number)
        self.pin_plan.arm(*fault)
        try:
            status, text = self.send(
                "balance", {"identifier": identifier, "metadata": {"store_id": "store-1"}}
            )
        finally:
            self.pin_plan.disarm()
        assert self.plan.calls == 0, "balance must not write a transaction"
        assert (self.pin_plan.calls > 0) == charged, "PIN guess charged or not"
        code = error_code(status, text)
        exhausting = fault[0] in (CONFLICT, THROTTLE) and fault[1] >= MAX_ATTEMPTS
        if exhausting and charged:
            assert (status, code) == (503, "retry_error"), f"balance: {status} {code}"
            return
        for effect in expect.pin_effect:
            effect()
        assert (status, code) == (expect.status, expect.code), (
            f"balance: got {status} {code}, expected {expect.status} {expect.code}"
        )
        if status == 200:
            assert card is not None and card.currency is not None
            assert parse_raw_numbers(text) == {
                "value": major_text(card.balance, DIGITS[card.currency]),
                "currency": card.currency,
            }

    @rule(seconds=st.sampled_from([30, 600, 901, 3600]))
    def wait(self, seconds: int) -> None:
        self.h.clock.advance(seconds)
