"""The card domain: numbers, PINs, states. Pure: no AWS, no HTTP."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class CardState(StrEnum):
    INACTIVE = "inactive"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


#: States only move forward: inactive -> active -> deactivated
#: (inactive -> deactivated for lost stock).
STATE_ORDER = {CardState.INACTIVE: 0, CardState.ACTIVE: 1, CardState.DEACTIVATED: 2}


def normalize_number(raw: str) -> str | None:
    """Trim, drop spaces and dashes; None when what is left is not a plausible card number."""
    number = raw.strip().replace(" ", "").replace("-", "")
    if not number.isascii() or not number.isdigit() or not 12 <= len(number) <= 19:
        return None
    return number


def luhn_check_digit(payload: str) -> str:
    total = 0
    for index, char in enumerate(reversed(payload)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return len(number) >= 2 and luhn_check_digit(number[:-1]) == number[-1]


def generate_number(prefix: str, length: int) -> str:
    """A new card number: prefix, CSPRNG digits, Luhn check digit (collisions are handled by
    the conditional write that creates the card)."""
    random_digits = "".join(secrets.choice("0123456789") for _ in range(length - len(prefix) - 1))
    payload = prefix + random_digits
    return payload + luhn_check_digit(payload)


def generate_pin(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def valid_pin_format(pin: str) -> bool:
    return pin.isascii() and pin.isdigit() and 1 <= len(pin) <= 12


def last4(number: str) -> str:
    return number[-4:]


@dataclass(frozen=True)
class Frozen:
    """An operator's block on a card (back office): beside the state, not a state. A frozen card
    refuses new spending and loading; what was reserved before can still be captured or revoked,
    refunds still reach it and it can still be deactivated."""

    reason: str
    by: str  #: the operator's IAM ARN
    at: str  #: UTC, ISO 8601 to the second


@dataclass(frozen=True)
class Card:
    """A card as stored. Amounts are integer minor units of ``currency``."""

    lookup: str
    state: CardState
    last4: str
    currency: str | None = None
    balance: int = 0  # spendable
    held: int = 0  # reserved by open financial instruments
    version: int = 0
    pin_hash: str | None = None
    #: Guesses counted in the current lock window (the guess being checked included).
    pin_failures: int = 0
    pin_locked_until: int = 0  # epoch seconds
    #: Lockouts in a row without a right PIN in between (each doubles the next lock).
    pin_lockouts: int = 0
    #: Locked until an operator unlocks it (after ``HARD_LOCK_AFTER`` lockouts in a row).
    pin_hard_locked: bool = False
    #: Token of the request that charged the last guess: its retry after a lost answer finds its
    #: own charge instead of charging a second guess.
    pin_charge: str = ""
    created_at: str = ""
    activated_at: str | None = None
    deactivated_at: str | None = None
    expires_at: str | None = None
    source: str = "issued"
    frozen: Frozen | None = None
    #: The customer index key (``KeyMaterial.customer_hash`` of the customer id), if any.
    customer_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def has_pin(self) -> bool:
        return self.pin_hash is not None

    def locked(self, now_epoch: int) -> bool:
        return self.pin_hard_locked or self.pin_locked_until > now_epoch

    def expired(self, now_iso: str) -> bool:
        return self.expires_at is not None and self.expires_at <= now_iso

    def with_(self, **changes: Any) -> Card:
        return replace(self, **changes)


# PIN guesses ----------
#
# The contract: at most ``max_failures`` PIN comparisons per card are answered per lock window,
# however many requests arrive at once. So a guess is *charged* (a conditional write on the card)
# before its PIN is compared, and the write that charges the window's last guess also writes the
# lock in advance: if that guess is wrong the lock simply stands (and survives a crash of the
# request); if it is right, the right PIN clears it. A right PIN resets the window, the lock and
# the lockout streak. Each lockout that follows another without a right PIN doubles the next lock
# (capped), and the ``HARD_LOCK_AFTER``-th in a row locks the PIN checks until an operator
# unlocks them. Pure rules here; ``Repository.charge_pin_guess`` executes them.

#: Lockouts in a row after which the PIN checks stay locked until an operator unlocks them.
HARD_LOCK_AFTER = 5
#: The longest lock of an escalating streak.
MAX_LOCK_SECONDS = 86400


@dataclass(frozen=True)
class PinCharge:
    """The card's PIN fields after charging one guess, written only if failures and lock are
    still as read (``expect``). ``expect`` None is the optimistic first try, which needs no read:
    one more failure, only while the card is unlocked and more than one guess is left."""

    expect: tuple[int, int] | None
    failures: int = 0
    locked_until: int = 0
    lockouts: int = 0
    hard_locked: bool = False
    #: The window's last guess: the lock is written with it (and cleared if the PIN is right).
    locks: bool = False


#: Charge one guess without reading the card first (most guesses).
OPTIMISTIC_CHARGE = PinCharge(expect=None)


def lock_seconds(base_seconds: int, lockouts_before: int) -> int:
    """The lock that follows ``lockouts_before`` lockouts in a row: doubled each time, capped."""
    return min(base_seconds * 2 ** min(lockouts_before, 32), max(base_seconds, MAX_LOCK_SECONDS))


def plan_pin_charge(
    card: Card, now_epoch: int, max_failures: int, lockout_seconds: int
) -> PinCharge | None:
    """How to charge one more guess on ``card`` as read; None when no guess may be compared now
    (locked, or hard locked: the window's last guess carries the lock, so a card whose guesses
    are all charged is locked)."""
    if card.locked(now_epoch):
        return None
    expect = (card.pin_failures, card.pin_locked_until)
    # At the limit but unlocked: the lock has ended, and this guess opens a new window.
    failures = 0 if card.pin_failures >= max_failures else card.pin_failures
    if failures + 1 < max_failures:
        return PinCharge(expect, failures + 1, card.pin_locked_until, card.pin_lockouts)
    lockouts = card.pin_lockouts + 1
    return PinCharge(
        expect,
        failures=failures + 1,
        locked_until=now_epoch + lock_seconds(lockout_seconds, card.pin_lockouts),
        lockouts=lockouts,
        hard_locked=lockouts >= HARD_LOCK_AFTER,
        locks=True,
    )


# Financial instruments ----------


@dataclass(frozen=True)
class Instrument:
    """A financial instrument: money reserved on a card by NewStore's payment flow."""

    instrument_id: str
    lookup: str
    currency: str
    authorized: int
    captured: int
    refunded: int
    released: int
    version: int
    created_at: str
    expires_at: int  # epoch seconds
    account_id: str = ""
    last4: str = ""

    @property
    def reserved(self) -> int:
        """Still reserved: capturable."""
        return self.authorized - self.captured - self.released

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded
