"""The nightly audit against the model: after any random history (issue, stock, activation,
reservations, captures, refunds, releases, expiry, deactivation, injected faults), the audit finds
no mismatch, checks every card, and its liability per currency equals the model's own sum over
the cards active now (``giftcard.audit`` counts frozen cards as active: the flag is not a state).
"""

from __future__ import annotations

from hypothesis import event
from hypothesis.stateful import rule

from giftcard.audit_job import RecordingPublisher, run_audit
from giftcard.cards import CardState
from tests.reliability.ledger_model.base import LedgerBase


class AuditRules(LedgerBase):
    @rule()
    def audit_matches_model(self) -> None:
        self.h.clock.advance(1)
        finished = run_audit(
            self.h.repository,
            self.h.clock,
            segments=2,
            publisher=RecordingPublisher(),
            sleep=lambda _seconds: None,
        )
        result = finished.result
        assert [m.problem for m in result.mismatches] == [], "the audit found mismatches"
        assert result.cards_checked == len(self.cards)
        # The independent sum: the model's cards, not the table.
        expected: dict[str, tuple[int, int, int]] = {}
        for card in self.cards.values():
            if card.state is CardState.ACTIVE and card.currency is not None:
                cards, spendable, held = expected.get(card.currency, (0, 0, 0))
                expected[card.currency] = (cards + 1, spendable + card.balance, held + card.held)
        found = {
            currency: (owed.cards, owed.spendable, owed.held)
            for currency, owed in result.liability.items()
        }
        assert found == expected, "the audit's liability differs from the model's sum"
        assert {c: sum(d.outstanding for d in b) for c, b in result.dormancy.items()} == {
            c: spendable + held for c, (_n, spendable, held) in expected.items()
        }
        event(f"audit: {len(expected)} currencies, {result.cards_checked} cards")
