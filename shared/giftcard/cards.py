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
    pin_failures: int = 0
    pin_locked_until: int = 0  # epoch seconds
    created_at: str = ""
    activated_at: str | None = None
    deactivated_at: str | None = None
    expires_at: str | None = None
    source: str = "issued"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def has_pin(self) -> bool:
        return self.pin_hash is not None

    def locked(self, now_epoch: int) -> bool:
        return self.pin_locked_until > now_epoch

    def expired(self, now_iso: str) -> bool:
        return self.expires_at is not None and self.expires_at <= now_iso

    def with_(self, **changes: Any) -> Card:
        return replace(self, **changes)
