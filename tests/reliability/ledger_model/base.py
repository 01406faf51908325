"""The machine's state and the helpers every rule family shares: picking a card, the PIN rule,
sending with an injected fault, and ``mutate`` (the comparison of a mutation with ``Expect``)."""

from __future__ import annotations

from typing import Any

from hypothesis import event
from hypothesis.stateful import RuleBasedStateMachine

from giftcard import aws
from giftcard.cards import CardState
from giftcard.routes import OPERATOR_ROUTES_BY_OPERATION
from tests.reliability.faults import CONFLICT, LOST, THROTTLE, FaultPlan, injected
from tests.reliability.leaks import leaks
from tests.reliability.ledger_model.harness import (
    Harness,
    card_number,
    error_code,
    parse_raw_numbers,
)
from tests.reliability.ledger_model.model import (
    MAX_ATTEMPTS,
    REQUEST_ERRORS,
    RESERVATION_SECONDS,
    Expect,
    ModelCard,
    ModelInstrument,
)
from tests.reliability.ledger_model.strategies import NO_FAULT
from tests.support.calls import CapturedLogs, Secrets, with_bad_check_digit


class LedgerBase(RuleBasedStateMachine):
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
            if name in OPERATOR_ROUTES_BY_OPERATION:
                return self.h.operate(name, body)
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
