"""PIN lockout escalation on an injected clock (contract: "Escalation (decided)"): each lockout
that follows another without a right PIN in between doubles the lock, capped at 24 h; the 5th in
a row locks the PIN checks until an operator unlocks them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.calls import invoke, issue_card

pytestmark = pytest.mark.usefixtures("ledger_checked")

MINUTE = 60


def balance(services: Any, number: str, pin: str) -> Any:
    return invoke("balance", {"identifier": {"number": number, "pin": pin}}, services=services)


def lock(services: Any, number: str, wrong: str) -> None:
    for _ in range(5):
        assert balance(services, number, wrong).error_code == "invalid_card"


def locked_for(services: Any, clock: Any, number: str, pin: str, minutes: int) -> None:
    """Locked now and until just before ``minutes`` have passed; open right after."""
    assert balance(services, number, pin).error_code == "invalid_card"
    clock.advance(minutes * MINUTE - 1)
    assert balance(services, number, pin).error_code == "invalid_card"
    clock.advance(1)


def test_each_lockout_in_a_row_doubles_and_the_fifth_is_a_hard_lock(
    services: Any, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    number, pin = issue_card(services=services)
    wrong = "0000" if pin != "0000" else "1111"
    for minutes in (15, 30, 60, 120):
        lock(services, number, wrong)
        locked_for(services, clock, number, pin, minutes)
    # The 5th lockout in a row: no time ends it, not even the cap of 24 h twice over
    lock(services, number, wrong)
    assert '"PinHardLocks"' in capsys.readouterr().out
    clock.advance(2 * 86400)
    assert balance(services, number, pin).error_code == "invalid_card"
    card = services.repository.get_card(services.context("r", "k").keys.card_lookup(number))
    assert card.pin_hard_locked and card.pin_lockouts == 5


def test_a_right_pin_between_lockouts_ends_the_streak(services: Any, clock: Any) -> None:
    number, pin = issue_card(services=services)
    wrong = "0000" if pin != "0000" else "1111"
    lock(services, number, wrong)
    locked_for(services, clock, number, pin, 15)
    lock(services, number, wrong)
    locked_for(services, clock, number, pin, 30)
    # A right PIN: the streak is over, the next lock is the first again (15 minutes)
    assert balance(services, number, pin).status == 200
    lock(services, number, wrong)
    locked_for(services, clock, number, pin, 15)
    assert balance(services, number, pin).status == 200


def test_four_wrong_then_right_never_locks(services: Any) -> None:
    number, pin = issue_card(services=services)
    wrong = "0000" if pin != "0000" else "1111"
    for _ in range(3):
        for _ in range(4):
            assert balance(services, number, wrong).error_code == "invalid_card"
        assert balance(services, number, pin).status == 200
