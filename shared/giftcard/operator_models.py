"""The operator API's requests and answers (back office, ``/admin/...``): the contract of
``back-office.md``, "Operator API".

The conventions of ``giftcard.models`` hold here too: unknown fields are ignored, money is a JSON
number parsed as ``Decimal``, and a refusal names the field and the rule, never the value (it may
be a card number). A card is named by its ``number`` or its opaque ``card_id``, never both.

Every change an operator makes carries a ``reason``: 3 to 200 characters, and no run of 12 or
more digits (spaces or dashes between them count as a run too), so a card number never lands in
the ledger, the history or an event.

No ``from __future__ import annotations``: see ``giftcard.models``.
"""

import base64
import binascii
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from giftcard.models import (
    CardNumber,
    CurrencyCode,
    IdempotencyKey,
    MoneyOut,
    RequestModel,
    ResponseModel,
)
from giftcard.writes import EntryKind

# Requests ----------------------------------------------------------------------------------------

REASON_MIN = 3
REASON_MAX = 200
#: 12 or more digits, one space or dash allowed between two of them: a card number, typed or
#: pasted ("7777 0012 3456 7890").
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){11,}")


def _reason(value: str) -> str:
    if len(value.strip()) < REASON_MIN:
        raise PydanticCustomError("reason_too_short", f"must have at least {REASON_MIN} characters")
    if _DIGIT_RUN.search(value):
        raise PydanticCustomError(
            "reason_digits", "must not contain a run of 12 or more digits (a card number?)"
        )
    return value


Reason = Annotated[
    str,
    Field(
        strict=True,
        min_length=REASON_MIN,
        max_length=REASON_MAX,
        description=(
            "Why: recorded with who and when in the card's history. 3 to 200 characters; a run "
            "of 12 or more digits is refused (card numbers never belong here)."
        ),
    ),
    AfterValidator(_reason),
]
CardId = Annotated[
    str,
    Field(
        strict=True,
        min_length=3,
        max_length=128,
        description="The card's opaque id (`c_...`), as every answer names the card.",
    ),
]
CustomerId = Annotated[
    str,
    Field(strict=True, min_length=1, max_length=1024, description="NewStore's customer id."),
]


class CardRequest(RequestModel):
    """A card, by its number or its ``card_id`` (exactly one of them)."""

    number: CardNumber | None = None
    card_id: CardId | None = None

    @model_validator(mode="after")
    def _one_card(self) -> Any:
        if (self.number is None) == (self.card_id is None):
            raise PydanticCustomError("one_card", "give the card's number or its card_id (one)")
        return self


class LookupRequest(CardRequest):
    pass


def _whole_number(value: Any) -> Any:
    """A JSON number without a fractional part (requests parse numbers as ``Decimal``)."""
    if isinstance(value, bool):
        raise PydanticCustomError("whole_number", "must be a whole JSON number")
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise PydanticCustomError("whole_number", "must be a whole JSON number")
        return int(value)
    return value


#: An opaque position in a card's history: the last entry a page showed.
_CURSOR_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z#[0-9a-f]{32}")


def encode_cursor(sort_key_suffix: str) -> str:
    return base64.urlsafe_b64encode(sort_key_suffix.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    """The entry position a cursor stands for, or None when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
    return text if _CURSOR_TEXT.fullmatch(text) else None


def _cursor(value: str) -> str:
    if decode_cursor(value) is None:
        raise PydanticCustomError("cursor", "is not a cursor this API gave")
    return value


class HistoryRequest(CardRequest):
    limit: Annotated[
        int,
        BeforeValidator(_whole_number),
        Field(strict=True, ge=1, le=200, description="Entries per page (1 to 200)."),
    ] = 50
    cursor: (
        Annotated[
            str,
            Field(strict=True, max_length=256, description="`next_cursor` of the previous page."),
            AfterValidator(_cursor),
        ]
        | None
    ) = None


class FreezeRequest(CardRequest):
    reason: Reason


class UnfreezeRequest(CardRequest):
    reason: Reason


class UnlockPinRequest(CardRequest):
    reason: Reason


def _not_zero(value: Decimal) -> Decimal:
    if value == 0:
        raise PydanticCustomError("zero_adjustment", "must not be 0")
    return value


class SignedMoney(RequestModel):
    """An adjustment: positive adds to the spendable balance, negative takes from it."""

    value: Annotated[
        Decimal,
        Field(strict=True, allow_inf_nan=False),
        AfterValidator(_not_zero),
        WithJsonSchema({"type": "number", "not": {"const": 0}, "example": -10}),
    ]
    currency: CurrencyCode


class AdjustRequest(CardRequest):
    amount: SignedMoney
    reason: Reason
    idempotency_key: IdempotencyKey


def _utc_instant(value: str) -> str:
    """ISO 8601 with a UTC offset (``Z`` or ``+00:00``) -> ``YYYY-MM-DDTHH:MM:SSZ``, the form
    every stored time has (expiry is decided by comparing these strings)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("utc_instant", "must be an ISO 8601 date and time") from None
    if parsed.tzinfo is None or parsed.utcoffset() != UTC.utcoffset(None):
        raise PydanticCustomError("utc_instant", "must be in UTC (end in Z)")
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ExpiryRequest(CardRequest):
    expires_at: (
        Annotated[
            str,
            Field(
                strict=True,
                max_length=64,
                description="ISO 8601 in UTC (e.g. `2027-12-31T23:59:59Z`); null: no expiry.",
            ),
            AfterValidator(_utc_instant),
        ]
        | None
    )
    reason: Reason


class CustomerCardsRequest(RequestModel):
    customer_id: CustomerId


class CustomerEraseRequest(RequestModel):
    customer_id: CustomerId
    reason: Reason


# Answers -----------------------------------------------------------------------------------------

Instant = Annotated[
    str, Field(description="UTC, ISO 8601 to the second", examples=["2026-11-26T10:00:00Z"])
]


class FrozenStatus(ResponseModel):
    reason: str
    by: str = Field(description="The operator's IAM ARN.")
    at: Instant


class PinStatus(ResponseModel):
    has_pin: bool
    failures: int = Field(description="Wrong guesses in the current window.")
    locked_until: Instant | None
    hard_locked: bool = Field(description="Locked until an operator unlocks it.")


class CustomerOut(ResponseModel):
    id: str | None
    name: str | None
    email: str | None


class Card(ResponseModel):
    """A card as an operator sees it: never its number (``card_id`` and ``last4`` name it)."""

    card_id: str
    last4: str
    state: Literal["inactive", "active", "deactivated"]
    currency: str | None
    balance: MoneyOut | None = Field(description="Spendable; null for unactivated stock.")
    held: MoneyOut | None = Field(description="Reserved by open reservations.")
    frozen: FrozenStatus | None
    pin: PinStatus
    created_at: Instant
    activated_at: Instant | None
    deactivated_at: Instant | None
    expires_at: Instant | None
    last_activity_at: Instant | None = Field(
        description="The newest entry NewStore's calls wrote (operators' actions do not count)."
    )
    open_reservations: int
    customer: CustomerOut | None = Field(description="Null when none, or erased.")


class Entry(ResponseModel):
    """One entry of a card's history. ``amount`` is the change of the card's value (spendable +
    held), null for an action that moves no money."""

    entry_id: str
    kind: EntryKind
    amount: MoneyOut | None
    balance_after: MoneyOut | None
    held_after: MoneyOut | None
    created_at: Instant
    store_id: str | None
    actor: str | None = Field(description="The API key id for NewStore's calls, else an IAM ARN.")
    reason: str | None
    instrument_id: str | None
    request_id: str | None


class CardResponse(ResponseModel):
    card: Card


class HistoryResponse(ResponseModel):
    entries: list[Entry] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for older entries; null: none.")


class AdjustResponse(ResponseModel):
    card: Card
    entry: Entry


class CustomerCardsResponse(ResponseModel):
    cards: list[Card]


class CustomerEraseResponse(ResponseModel):
    erased_cards: int
