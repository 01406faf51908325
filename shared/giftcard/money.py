"""Money: JSON numbers in major units at the edges, integer minor units inside.

Minor units come from the ISO 4217 data package (``iso4217``), not from a hand-written table.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from functools import lru_cache

from giftcard.errors import AmountOutOfRange, InvalidRequest
from giftcard.settings import Settings


@lru_cache(maxsize=512)
def minor_digits(currency: str) -> int | None:
    """Digits after the decimal point for an active ISO 4217 code; None if unknown or unitless."""
    from iso4217 import Currency  # deferred: parsing the ISO table costs import time

    try:
        exponent = Currency(currency).exponent
    except ValueError:
        return None
    return exponent


def check_currency(currency: str, settings: Settings) -> int:
    """Digits of an accepted currency, or ``invalid_request``."""
    digits = minor_digits(currency)
    if digits is None:
        raise InvalidRequest("Unknown or unsupported currency.")
    if settings.accepted_currencies and currency not in settings.accepted_currencies:
        raise InvalidRequest("This currency is not accepted.")
    return digits


def to_minor(value: Decimal, currency: str, settings: Settings) -> int:
    """A positive amount in major units -> integer minor units, enforcing the contract's rules.

    Order: currency, sign, decimals (all ``invalid_request``), then the per-card maximum
    (``amount_out_of_range``). Arithmetic is exact: no context rounding, no float.
    """
    digits = check_currency(currency, settings)
    if not value.is_finite() or value <= 0:
        raise InvalidRequest("The amount must be a positive number.")
    _sign, coefficient, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    trailing_zeros = len(coefficient) - len("".join(map(str, coefficient)).rstrip("0"))
    if exponent + trailing_zeros < -digits:
        raise InvalidRequest("The amount has more decimals than the currency allows.")
    if value > settings.max_balance_for(currency):
        raise AmountOutOfRange()
    return _scale_exact(coefficient, exponent + digits)


def _scale_exact(coefficient: tuple[int, ...], shift: int) -> int:
    digits = "".join(map(str, coefficient))
    significant = digits.rstrip("0")
    # Trailing zeros only move the point: 5 written with 5,000 zeros must not reach int() with
    # more digits than Python converts (4,300 by default: ValueError, a 500).
    shift += len(digits) - len(significant)
    number = int(significant or "0")
    if shift >= 0:
        return number * 10**shift
    return number // 10 ** (-shift)  # exact: only trailing zeros are dropped (checked by caller)


def max_minor(currency: str, settings: Settings) -> int:
    digits = minor_digits(currency) or 0
    maximum = settings.max_balance_for(currency)
    return int(maximum.scaleb(digits).to_integral_value(rounding="ROUND_FLOOR"))


def to_major(minor: int, currency: str) -> Decimal:
    """Integer minor units -> Decimal major units (exact)."""
    digits = minor_digits(currency) or 0
    return Decimal(minor).scaleb(-digits)


def issuance_ceiling_minor(currency: str, settings: Settings) -> tuple[int, int]:
    """(ceiling, alert level) of the value loaded per UTC day in ``currency``, minor units."""
    digits = minor_digits(currency) or 0
    ceiling = int(
        settings.issuance_ceiling_for(currency).scaleb(digits).to_integral_value(ROUND_DOWN)
    )
    alert = int(
        (settings.issuance_ceiling_for(currency) * settings.issuance_alert_fraction)
        .scaleb(digits)
        .to_integral_value(ROUND_DOWN)
    )
    return ceiling, min(alert, ceiling)
