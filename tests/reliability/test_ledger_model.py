"""The ledger model test: random sequences of webhook calls against the real handlers on moto,
compared step by step with a small in-memory model of what must have happened.

Rules: issue, printed stock import, activate, deactivate, balance (right, wrong, missing PIN),
replay of an earlier idempotency key with other parameters, waiting (lockouts end), and on every
mutation an optional injected storage fault: transaction conflicts or throttling N times (N at or
over the retry budget must give ``503 retry_error`` and no effect at all) or a lost response after
the commit (the service's retry must replay, never execute twice).

After every step (``storage_matches_model``): every card in the table is in the model and equal to
it; each card's balance + held equals the sum of its ledger entries and the entries chain; no
balance is negative; states only move forward; each ledger entry belongs to exactly one stored
idempotency record; the table holds exactly the records the model expects (no effect from a 503);
PIN failure counters match the model. Replays are compared byte for byte with the first response.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from giftcard import aws
from giftcard.cards import STATE_ORDER, CardState, luhn_valid
from giftcard.items import (
    INSTRUMENT_PREFIX,
    card_from_item,
    card_pk,
    entry_from_item,
    instrument_from_item,
)
from giftcard.settings import Settings
from giftcard.stock import import_stock
from tests.reliability.conftest import PROFILE, size
from tests.reliability.faults import CONFLICT, LOST, THROTTLE, FaultPlan, injected
from tests.reliability.leaks import leaks
from tests.reliability.model import (
    Harness,
    card_number,
    error_code,
    major,
    major_text,
    parse_raw_numbers,
)
from tests.support.aws import offline_aws
from tests.support.calls import CapturedLogs, Secrets, with_bad_check_digit

#: A small retry budget, so exhausting it costs three injected failures.
MAX_ATTEMPTS = 3
#: Reservations expire after an hour here, so waiting (the ``wait`` rule) reaches expiry.
RESERVATION_SECONDS = 3600
DIGITS = {"USD": 2, "EUR": 2, "JPY": 0, "BHD": 3}
#: The per-card maximum of each currency (default settings: 10,000 USD/EUR, 1,500,000 JPY,
#: 3,000 BHD), in minor units.
MAX_MINOR = {c: int(Settings().max_balance_for(c).scaleb(d)) for c, d in DIGITS.items()}
REQUEST_ERRORS = ("invalid_request", "amount_out_of_range")
PAYMENT_COMMANDS = ("instrument_capture", "instrument_refund", "instrument_revoke")
ISSUE_PREFIX = "7777"

NO_FAULT: tuple[str | None, int] = (None, 0)
faults = st.one_of(
    st.just(NO_FAULT),
    st.just(NO_FAULT),
    st.just(NO_FAULT),
    st.tuples(st.sampled_from([CONFLICT, THROTTLE]), st.integers(1, MAX_ATTEMPTS + 1)),
    st.just((LOST, 1)),
)
# Amounts: (kind, minor units, currency). Invalid kinds must be refused before any storage call.
amounts = st.one_of(
    st.tuples(st.just("ok"), st.integers(1, 10_000 * 1000), st.sampled_from(sorted(DIGITS))),
    st.tuples(st.just("ok"), st.integers(1, 10_000), st.sampled_from(sorted(DIGITS))),
    st.tuples(
        st.sampled_from(["too_big", "too_precise", "zero", "string", "unknown_currency"]),
        st.integers(1, 10_000),
        st.sampled_from(sorted(DIGITS)),
    ),
)
#: Idempotency keys: a small pool (so keys repeat), none, or any text of 1..255 characters.
keys = st.one_of(
    st.none(),
    st.sampled_from(["k1", "k2", "k3"]),
    st.text(min_size=1, max_size=40),
    st.text(st.characters(codec="utf-8"), min_size=255, max_size=255),
)
# A card to act on: a known card (by index), an unknown but valid number, or a Luhn failure.
targets = st.tuples(
    st.sampled_from(["card", "card", "card", "unknown", "broken"]), st.integers(0, 10**12)
)
spellings = st.sampled_from(["plain", "spaces", "dashes", "padded"])
#: Payment operations require a key: mostly a pool key, sometimes fresh text, rarely none.
payment_keys = st.one_of(
    st.sampled_from(["p1", "p2", "p3", "p4", "p5", "p6", None]),
    st.text(min_size=1, max_size=40),
)
# An instrument to act on: a known one (by index), an unknown id of our format, a foreign id.
instrument_targets = st.tuples(
    st.sampled_from(["known"] * 6 + ["unknown", "foreign"]), st.integers(0, 10**12)
)
# A payment amount relative to what is available: a share of it, all of it, more, or absolute.
payment_amounts = st.tuples(
    st.sampled_from(["share", "share", "all", "over", "absolute"]),
    st.integers(1, 100),
    st.integers(1, 10**6),
)
currency_choices = st.sampled_from(["same"] * 6 + ["other"])
#: Reservations mostly name a known card with the right PIN (the point is to spend cards).
reserve_pins = st.sampled_from(["right"] * 4 + ["wrong", "missing"])
reserve_targets = st.tuples(
    st.sampled_from(["card"] * 8 + ["unknown", "broken"]), st.integers(0, 10**12)
)
pin_kinds = st.sampled_from(["right", "right", "wrong", "wrong", "missing", "empty"])


def spelled(number: str, how: str) -> str:
    groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    if how == "spaces":
        return " ".join(groups)
    if how == "dashes":
        return "-".join(groups)
    if how == "padded":
        return f"  {number} "
    return number


def amount_body(kind: str, minor: int, currency: str) -> tuple[dict[str, Any], str | None]:
    """The request's ``amount`` and the request error it must get (None: valid)."""
    digits = DIGITS[currency]
    if kind == "too_big":
        return {"value": major(MAX_MINOR[currency] + minor, digits), "currency": currency}, (
            "amount_out_of_range"
        )
    if kind == "too_precise":
        return {"value": major(minor * 10 + 7, digits + 1), "currency": currency}, "invalid_request"
    if kind == "zero":
        return {"value": major(0, digits), "currency": currency}, "invalid_request"
    if kind == "string":
        return {"value": str(major(minor, digits)), "currency": currency}, "invalid_request"
    if kind == "unknown_currency":
        return {"value": major(minor, digits), "currency": "ZZZ"}, "invalid_request"
    minor = min(minor, MAX_MINOR[currency])
    return {"value": major(minor, digits), "currency": currency}, None


@dataclass
class ModelCard:
    number: str
    pin: str | None
    state: CardState
    currency: str | None = None
    balance: int = 0  # spendable
    held: int = 0  # reserved by open instruments
    failures: int = 0  # guesses counted in the current window
    locked_until: int = 0
    lockouts: int = 0  # in a row, without a right PIN in between
    hard_locked: bool = False
    deactivated_at: str | None = None


@dataclass
class ModelInstrument:
    instrument_id: str
    number: str
    currency: str
    authorized: int
    expires_at: int
    captured: int = 0
    refunded: int = 0
    released: int = 0

    @property
    def reserved(self) -> int:
        return self.authorized - self.captured - self.released

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded


def signed_text(minor: int, digits: int) -> str:
    return "-" + major_text(-minor, digits) if minor < 0 else major_text(minor, digits)


def other_currency(currency: str | None) -> str:
    return "EUR" if currency != "EUR" else "USD"


def payment_minor(choice: tuple[str, int, int], available: int) -> int:
    kind, share, absolute = choice
    if kind == "share":
        return max(1, available * share // 100)
    if kind == "all":
        return max(1, available)
    if kind == "over":
        return available + 1 + absolute % 1000
    return absolute


@dataclass
class Expect:
    """What a fresh (not replayed) request must get, and what it changes."""

    status: int
    code: str | None = None
    #: the response is stored (under the client's key, or the request id for a 200 without key)
    stored: bool = False
    #: the request reaches TransactWriteItems (so an exhausting fault turns it into a 503)
    transacts: bool = True
    #: applied when the request commits; gets the parsed 200 body
    commit: Callable[[Any], None] | None = None
    #: checks a 200 body (numbers as text)
    check: Callable[[Any], None] | None = None
    #: PIN counter changes: a guess is charged before the transaction and a wrong one stays
    #: counted even if the transaction then fails; a right one is reset whatever happens next
    pin_effect: list[Callable[[], None]] = field(default_factory=list)


class LedgerMachine(RuleBasedStateMachine):
    need_activation = False
    register_unknown = False

    def __init__(self) -> None:
        super().__init__()
        self.secrets = Secrets()
        self.logs = CapturedLogs().__enter__()
        self.h = Harness(
            self.secrets,
            storage_max_attempts=MAX_ATTEMPTS,
            issued_cards_need_activation=self.need_activation,
            register_unknown_on_activation=self.register_unknown,
            reservation_expiry_seconds=RESERVATION_SECONDS,
        )
        self.cards: dict[str, ModelCard] = {}
        self.instruments: dict[str, ModelInstrument] = {}
        self.replies: dict[tuple[str, str], tuple[int, str]] = {}
        self.records = 0
        self.seen_states: dict[str, CardState] = {}
        self.plan = FaultPlan()  # TransactWriteItems: every mutation
        self.pin_plan = FaultPlan("UpdateItem")  # the PIN failure counter
        client = aws.client("dynamodb")
        self._hooks = [injected(client, self.plan), injected(client, self.pin_plan)]
        for hook in self._hooks:
            hook.__enter__()

    def teardown(self) -> None:
        for hook in self._hooks:
            hook.__exit__(None, None, None)
        self.logs.__exit__(None, None, None)
        self.h.drop()
        found = leaks(self.logs.text, self.secrets)
        assert not found, f"the service's logs contain: {', '.join(found)}"

    # helpers -----------------------------------------------------------------------------------

    @property
    def now(self) -> int:
        return self.h.clock.now().seconds

    def pick(self, which: tuple[str, int]) -> tuple[str, ModelCard | None]:
        # By insertion order, never by the (random) numbers: a re-run of the same steps must pick
        # the same card, or hypothesis cannot replay and shrink.
        kind, seed = which
        if kind == "card" and self.cards:
            number = list(self.cards)[seed % len(self.cards)]
            return number, self.cards[number]
        number = card_number(seed)
        if kind == "broken":
            return with_bad_check_digit(number), None
        return number, self.cards.get(number)

    def send(
        self,
        name: str,
        body: dict[str, Any],
        fault: tuple[str | None, int] = NO_FAULT,
        instrument_id: str | None = None,
    ) -> tuple[int, str]:
        self.plan.arm(*fault)
        try:
            return self.h.call(name, body, instrument_id=instrument_id)
        finally:
            self.plan.disarm()

    def pin_check(self, card: ModelCard, pin: str | None, expect: Expect) -> str | None:
        """The contract's PIN rule; returns the refusal code or None. Counter changes go to
        ``expect.pin_effect``: a missing PIN is no guess; a locked card compares nothing; a
        guess opens a new window once a lock has ended; the window's last wrong guess locks
        (doubling with each lockout in a row, hard after 5); a right PIN resets everything."""
        if not pin:
            return "invalid_card"
        now = self.now
        if card.hard_locked or card.locked_until > now:
            return "invalid_card"
        limit = self.h.settings.pin_max_failures
        failures = (0 if card.failures >= limit else card.failures) + 1
        if pin != card.pin:
            base = self.h.settings.pin_lockout_seconds

            def count() -> None:
                card.failures = failures
                if failures >= limit:
                    card.locked_until = now + min(base * 2**card.lockouts, max(base, 86400))
                    card.lockouts += 1
                    card.hard_locked = card.lockouts >= 5

            expect.pin_effect.append(count)
            return "invalid_card"

        def reset() -> None:
            card.failures, card.locked_until, card.lockouts, card.hard_locked = 0, 0, 0, False

        expect.pin_effect.append(reset)
        return None

    def pin_to_send(self, card: ModelCard | None, kind: str, seed: int) -> str | None:
        right = card.pin if card is not None and card.pin else str(seed % 10**4).zfill(4)
        if kind == "right":
            return right
        if kind == "wrong":
            return str((int(right) + 1 + seed % 97) % 10 ** len(right)).zfill(len(right))
        if kind == "empty":
            return ""
        return None

    def mutate(
        self,
        name: str,
        body: dict[str, Any],
        key: str | None,
        fault: tuple[str | None, int],
        expect: Expect,
        replay_transacts: bool = True,
        instrument_id: str | None = None,
        key_field: str = "idempotence_key",
    ) -> None:
        """Send a mutation and compare with ``expect`` (or with the stored reply of ``key``).

        ``replay_transacts``: a replay of this request reaches TransactWriteItems (deactivate
        finds its record with a read, except for numbers refused before any read)."""
        if key is not None:
            body[key_field] = key
        stored = self.replies.get((name, key)) if key is not None else None
        exhausting = fault[0] in (CONFLICT, THROTTLE) and fault[1] >= MAX_ATTEMPTS
        status, text = self.send(name, body, fault, instrument_id)
        code = error_code(status, text)
        event(f"{name}: {status} {code or ''}{' (replay)' if stored else ''}")

        if expect.code in REQUEST_ERRORS:
            # Refused before any storage call: never stored, never replayed.
            assert (status, code) == (400, expect.code)
            assert self.plan.calls == 0
            return
        if stored is not None:
            if exhausting and replay_transacts:
                assert (status, code) == (503, "retry_error")
            else:
                same = (status, text) == stored  # not compared in the assert: bodies hold PINs
                assert same, f"{name}: replay differs from the first response"
            return
        for effect in expect.pin_effect:
            effect()
        if exhausting and expect.transacts:
            assert (status, code) == (503, "retry_error"), f"{name}: {status} {code}"
            assert self.plan.committed == 0
            return
        assert (status, code) == (expect.status, expect.code), (
            f"{name}: got {status} {code}, expected {expect.status} {expect.code}"
        )
        parsed = parse_raw_numbers(text)
        if status == 200:
            if expect.check is not None:
                expect.check(parsed)
            if expect.commit is not None:
                expect.commit(parsed)
        if expect.stored:
            self.records += 1
            if key is not None:
                self.replies[(name, key)] = (status, text)
        if fault[0] == LOST and expect.transacts and expect.stored:
            assert self.plan.injected == 1, "the lost response was not exercised"

    # rules -------------------------------------------------------------------------------------

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
                    )
                    self.secrets.add_card(number)

                return Expect(200, stored=True, check=check, commit=register)
            # A number that fails the Luhn check is refused before any read or write.
            return Expect(
                400, "card_not_found", stored=keyed, transacts=keyed or luhn_valid(number)
            )
        if card.state is CardState.ACTIVE:
            return Expect(400, "card_already_active", stored=keyed)
        if card.state is CardState.DEACTIVATED:
            return Expect(400, "card_deactivated", stored=keyed)

        def activated(_parsed: Any) -> None:
            card.state, card.currency, card.balance = CardState.ACTIVE, currency, minor

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
        elif card.state is CardState.INACTIVE:
            expect.status, expect.code = 400, "card_not_active"
        elif card.state is CardState.DEACTIVATED:
            expect.status, expect.code = 400, "card_deactivated"
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
        reads_first = name in ("deactivate", "instrument_create") and luhn_valid(number)
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

    # redemption --------------------------------------------------------------------------------

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
        if card.state is not CardState.ACTIVE or card.currency != currency:
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
            if card.state is CardState.DEACTIVATED:
                return Expect(400, "instrument_error", stored=True)

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

    @rule(seconds=st.sampled_from([30, 600, 901, 3600]))
    def wait(self, seconds: int) -> None:
        self.h.clock.advance(seconds)

    # the invariants ----------------------------------------------------------------------------

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
        assert all(int(item["status"]) in (200, 400) for item in records.values())
        owners = [entry.record_pk for entry in entries]
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


@pytest.fixture(scope="module")
def aws_offline() -> Iterator[None]:
    with offline_aws():
        yield


def _machine(need_activation: bool, register_unknown: bool) -> type[LedgerMachine]:
    return type(
        "LedgerMachine",
        (LedgerMachine,),
        {"need_activation": need_activation, "register_unknown": register_unknown},
    )


#: The long variant runs as 4 shards per configuration (4 x 650 = 2,600 examples each), so
#: pytest-xdist can spread them over the workers; the short one is one run of 100.
SHARDS = size(1, 4)
EXAMPLES_PER_SHARD = size(100, 650)


@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.parametrize(
    ("need_activation", "register_unknown"),
    [(False, False), (True, True)],
    ids=["defaults", "activation-required+unknown-registered"],
)
def test_ledger_matches_model(
    aws_offline: None,
    need_activation: bool,
    register_unknown: bool,
    shard: int,
) -> None:
    # Given a fresh table per example, when random webhook sequences (with injected storage
    # faults) run, then storage equals the model after every step.
    machine = _machine(need_activation, register_unknown)
    run_state_machine_as_test(
        machine,
        settings=settings(
            PROFILE, max_examples=EXAMPLES_PER_SHARD, stateful_step_count=size(20, 25)
        ),
    )
