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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from giftcard import aws
from giftcard.cards import STATE_ORDER, CardState, luhn_valid
from giftcard.repository import card_from_item, card_pk, entry_from_item
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
DIGITS = {"USD": 2, "EUR": 2, "JPY": 0, "BHD": 3}
MAX_MAJOR = 10_000
REQUEST_ERRORS = ("invalid_request", "amount_out_of_range")
ISSUE_PREFIX = "7777"

NO_FAULT: tuple[str | None, int] = (None, 0)
faults = st.one_of(
    st.just(NO_FAULT),
    st.just(NO_FAULT),
    st.tuples(st.sampled_from([CONFLICT, THROTTLE]), st.integers(1, MAX_ATTEMPTS + 1)),
    st.just((LOST, 1)),
)
# Amounts: (kind, minor units, currency). Invalid kinds must be refused before any storage call.
amounts = st.one_of(
    st.tuples(st.just("ok"), st.integers(1, MAX_MAJOR * 1000), st.sampled_from(sorted(DIGITS))),
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
        return {"value": major(MAX_MAJOR * 10**digits + minor, digits), "currency": currency}, (
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
    minor = min(minor, MAX_MAJOR * 10**digits)
    return {"value": major(minor, digits), "currency": currency}, None


@dataclass
class ModelCard:
    number: str
    pin: str | None
    state: CardState
    currency: str | None = None
    balance: int = 0
    failures: int = 0
    locked_until: int = 0
    deactivated_at: str | None = None


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
    #: PIN counter changes: written before the transaction, kept even if it then fails
    pin_effect: list[Callable[[], None]] = field(default_factory=list)
    #: the PIN check writes the failure counter (UpdateItem): a wrong PIN, or a right one after
    #: earlier failures
    pin_writes: bool = False


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
        )
        self.cards: dict[str, ModelCard] = {}
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
        kind, seed = which
        if kind == "card" and self.cards:
            number = sorted(self.cards)[seed % len(self.cards)]
            return number, self.cards[number]
        number = card_number(seed)
        if kind == "broken":
            return with_bad_check_digit(number), None
        return number, self.cards.get(number)

    def send(
        self, name: str, body: dict[str, Any], fault: tuple[str | None, int] = NO_FAULT
    ) -> tuple[int, str]:
        self.plan.arm(*fault)
        try:
            return self.h.call(name, body)
        finally:
            self.plan.disarm()

    def pin_check(self, card: ModelCard, pin: str | None, expect: Expect) -> str | None:
        """The contract's PIN rule; returns the refusal code or None. Counter changes go to
        ``expect.pin_effect`` (a wrong PIN is one guess, counted once)."""
        if not pin:
            return "invalid_card"
        if card.locked_until > self.now:
            return "invalid_card"
        if pin != card.pin:
            limit = self.h.settings.pin_max_failures
            lockout = self.h.settings.pin_lockout_seconds
            now = self.now

            def count() -> None:
                card.failures += 1
                if card.failures >= limit:
                    card.failures, card.locked_until = 0, now + lockout

            expect.pin_effect.append(count)
            expect.pin_writes = True
            return "invalid_card"

        def reset() -> None:
            card.failures = 0

        expect.pin_effect.append(reset)
        expect.pin_writes = card.failures > 0
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
    ) -> None:
        """Send a mutation and compare with ``expect`` (or with the stored reply of ``key``).

        ``replay_transacts``: a replay of this request reaches TransactWriteItems (deactivate
        finds its record with a read, except for numbers refused before any read)."""
        if key is not None:
            body["idempotence_key"] = key
        stored = self.replies.get((name, key)) if key is not None else None
        exhausting = fault[0] in (CONFLICT, THROTTLE) and fault[1] >= MAX_ATTEMPTS
        status, text = self.send(name, body, fault)
        code = error_code(status, text)

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
            if number not in self.cards:
                rows.append((number, pin))
        known = sorted(self.cards)
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
        self.pin_plan.arm(*fault)
        try:
            status, text = self.send(
                "balance", {"identifier": identifier, "metadata": {"store_id": "store-1"}}
            )
        finally:
            self.pin_plan.disarm()
        assert self.plan.calls == 0, "balance must not write a transaction"
        assert (self.pin_plan.calls > 0) == expect.pin_writes, "PIN counter written or not"
        code = error_code(status, text)
        exhausting = fault[0] in (CONFLICT, THROTTLE) and fault[1] >= MAX_ATTEMPTS
        if exhausting and expect.pin_writes:
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
        name, key = sorted(self.replies)[choice % len(self.replies)]
        number, card = self.pick(which)
        money, _ = amount_body(*amount)
        body: dict[str, Any]
        if name == "issue":
            body = {"amount": money, "customer": {"name": "Someone Else"}}
        elif name == "activate":
            body = {"card_number": number, "amount": money}
        else:
            body = {"card_number": number, "pin": self.pin_to_send(card, pin, choice) or "0000"}
        # Whatever the new parameters would do, the stored response comes back unchanged.
        replay_transacts = name != "deactivate" or not luhn_valid(number)
        self.mutate(name, body, key, fault, Expect(200), replay_transacts=replay_transacts)

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
            assert (stored.balance, stored.held) == (expected.balance, 0), f"{label}: balance"
            assert stored.currency == expected.currency, f"{label}: currency"
            assert stored.balance >= 0 and stored.held >= 0
            assert (stored.pin_failures, stored.pin_locked_until) == (
                expected.failures,
                expected.locked_until,
            ), f"{label}: PIN failure counter differs from the model"
            assert stored.pin_failures < self.h.settings.pin_max_failures
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


@pytest.mark.parametrize(
    ("need_activation", "register_unknown"),
    [(False, False), (True, True)],
    ids=["defaults", "activation-required+unknown-registered"],
)
def test_ledger_matches_model(
    aws_offline: None,
    need_activation: bool,
    register_unknown: bool,
) -> None:
    # Given a fresh table per example, when random webhook sequences (with injected storage
    # faults) run, then storage equals the model after every step.
    machine = _machine(need_activation, register_unknown)
    run_state_machine_as_test(
        machine,
        settings=settings(PROFILE, max_examples=size(100, 2600), stateful_step_count=size(10, 15)),
    )
