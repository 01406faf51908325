"""The PIN guard: a guess is charged before it is compared (contract: PIN concurrency).

The rules of the guess window, the lock it carries and the escalation are pure
(``giftcard.cards.plan_pin_charge``); this module runs them against the card in storage.
"""

from __future__ import annotations

import hmac
import random
from dataclasses import dataclass

from giftcard.cards import (
    OPTIMISTIC_CHARGE,
    Card,
    lock_seconds,
    plan_pin_charge,
)
from giftcard.errors import (
    InvalidCard,
    RetryError,
)
from giftcard.metric_names import PIN_FAILURES, PIN_HARD_LOCKS, PIN_LOCKOUTS
from giftcard.observability import (
    logger,
    metrics,
)
from giftcard.operation import RequestContext
from giftcard.settings import Settings
from giftcard.writes import (
    CardConflict,
)

#: A request that meets a lock written a moment ago waits this often, this long, for the
#: comparison that wrote it (a right PIN lifts it) before it refuses.
_PIN_LOCK_WAITS = 6
_PIN_LOCK_WAIT_SECONDS = 0.05
_PIN_LOCK_FRESH_SECONDS = 2


@dataclass(frozen=True)
class PinProof:
    """A request's PIN, proven: the card as stored once the guess was charged. ``charged``:
    a guess was charged, which the request's own write resets (``CardUpdate.reset_pin``); if it
    writes nothing that does, ``with_retries`` resets it when the request ends."""

    card: Card
    charged: bool


def prove_pin(
    context: RequestContext,
    lookup: str,
    pin: str,
    read: Card | None = None,
    token: str | None = None,
) -> PinProof:
    """The contract's PIN rule for a request that sends a PIN: the guess is charged first (a
    conditional write that refuses a locked card and returns the card), then compared.

    However many requests arrive at once, at most ``pin_max_failures`` comparisons per card are
    made per lock window: the charge is what is counted, and the window's last charge writes the
    lock with it. Raises ``InvalidCard`` for an unknown card, a locked card or a wrong PIN (one
    answer for all). A card without a PIN ignores the PIN (``charged`` False).

    ``token`` marks the charge (default: this request's own); a retry that finds its own mark
    uses that charge instead of charging a second guess.
    """
    settings = context.settings
    earlier = context.pin_checks.get(lookup)
    if earlier is False:
        raise InvalidCard()  # a retry of this request: its one wrong guess is already counted
    if earlier and read is not None:
        return PinProof(read, charged=True)
    token = token or context.pin_token
    charge = OPTIMISTIC_CHARGE
    waits = 0
    for _ in range(settings.storage_max_attempts):
        now = context.now().seconds
        try:
            card = context.repository.charge_pin_guess(
                lookup, charge, token, now, settings.pin_max_failures
            )
            break
        except CardConflict as conflict:
            stored = conflict.card
            if stored is None:
                raise InvalidCard() from None
            if not stored.has_pin:
                return PinProof(stored, charged=False)
            if hmac.compare_digest(stored.pin_charge, token):
                card = stored  # our own charge, whose answer was lost (or a copy's)
                break
            planned = plan_pin_charge(
                stored, now, settings.pin_max_failures, settings.pin_lockout_seconds
            )
            if planned is not None:
                charge = planned
                continue
            if waits < _PIN_LOCK_WAITS and _lock_is_fresh(stored, now, settings):
                # The lock was written a moment ago by the window's last charge, whose request
                # is still comparing: a right PIN there lifts it. Wait for that, not longer.
                waits += 1
                context.sleep(random.uniform(_PIN_LOCK_WAIT_SECONDS / 2, _PIN_LOCK_WAIT_SECONDS))
                charge = OPTIMISTIC_CHARGE
                continue
            logger.info("pin check refused: locked", card_last4=stored.last4)
            raise InvalidCard() from None
    else:
        raise RetryError()
    assert card.pin_hash is not None
    right = context.keys.pin_matches(card.pin_hash, lookup, pin)
    context.pin_checks[lookup] = right
    if right:
        context.pin_unsettled.add(lookup)
        return PinProof(card, charged=True)
    metrics.add_metric(name=PIN_FAILURES, unit="Count", value=1)
    if card.pin_failures >= settings.pin_max_failures:  # this guess carried the lock
        context.repository.confirm_pin_lock(lookup, token)
        metrics.add_metric(name=PIN_LOCKOUTS, unit="Count", value=1)
        if card.pin_hard_locked:
            metrics.add_metric(name=PIN_HARD_LOCKS, unit="Count", value=1)
        logger.warning(
            "pin checks locked after repeated failures",
            card_last4=card.last4,
            lockouts_in_a_row=card.pin_lockouts,
            hard_locked=card.pin_hard_locked,
        )
    raise InvalidCard()


def _lock_is_fresh(card: Card, now: int, settings: Settings) -> bool:
    """The lock was written a moment ago and its request has not confirmed it yet (a right PIN
    there may still lift it). A request that died before confirming holds others up for at most
    ``_PIN_LOCK_FRESH_SECONDS``."""
    if not card.pin_charge:
        return False  # confirmed (the last guess was wrong), or set by an operator
    written = card.pin_locked_until - lock_seconds(
        settings.pin_lockout_seconds, max(card.pin_lockouts - 1, 0)
    )
    return now - written <= _PIN_LOCK_FRESH_SECONDS
