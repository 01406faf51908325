"""Request, response and error models (pydantic v2): the contract at the boundary.

Forgiving where the contract says so (unknown fields anywhere are ignored, metadata is free-form),
strict where money is concerned (amounts must be JSON numbers, never strings or booleans).
Requests are parsed with every JSON number as ``Decimal`` (see ``jsonio``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

# An amount in major units: a JSON number, never a string. Range and decimals are checked
# against the currency and the deployment's maximum in ``money.to_minor``.
Amount = Annotated[
    Decimal,
    Field(strict=True, allow_inf_nan=False),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "example": 50}),
]
ResponseAmount = Annotated[Decimal, WithJsonSchema({"type": "number", "example": 50})]
SignedAmount = Annotated[Decimal, WithJsonSchema({"type": "number", "example": -10})]
CurrencyCode = Annotated[
    str,
    Field(strict=True, pattern=r"^[A-Z]{3}$", description="ISO 4217 alphabetic code"),
    WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$", "example": "USD"}),
]
CardNumber = Annotated[
    str,
    Field(
        strict=True,
        min_length=1,
        max_length=64,
        description="Card number; surrounding blanks, and spaces or dashes inside, are ignored.",
    ),
]
Pin = Annotated[str, Field(strict=True, max_length=64)]
IdempotenceKey = Annotated[
    str,
    Field(
        strict=True,
        min_length=1,
        max_length=255,
        description="Retries with the same key get the first response, whatever their parameters.",
    ),
]
Text = Annotated[str, Field(strict=True, max_length=1024)]


class RequestModel(BaseModel):
    # defer_build: each Lambda builds the validators of the models it actually uses, on first use.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class Money(RequestModel):
    value: Amount
    currency: CurrencyCode


class Metadata(BaseModel):
    """Free-form; NewStore always sends ``store_id``. Other fields are kept and ignored."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    store_id: Text | None = None
    original_operation: Text | None = None

    @field_validator("store_id", "original_operation", mode="before")
    @classmethod
    def _non_strings_ignored(cls, value: Any) -> Any:
        # Free-form metadata must never make a request fail.
        return value if value is None or isinstance(value, str) else None


class Customer(BaseModel):
    """All fields optional; unknown fields are kept as customer metadata."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    id: Text | None = None
    email: Text | None = None
    name: Text | None = None


class CardIdentifier(RequestModel):
    number: CardNumber
    pin: Pin | None = None


class BalanceRequest(RequestModel):
    identifier: CardIdentifier
    metadata: Metadata | None = None


class IssueRequest(RequestModel):
    amount: Money
    customer: Customer
    metadata: Metadata | None = None
    idempotence_key: IdempotenceKey | None = None


class ActivateRequest(RequestModel):
    card_number: CardNumber
    amount: Money
    customer: Customer | None = None
    metadata: Metadata | None = None
    idempotence_key: IdempotenceKey | None = None


class DeactivateRequest(RequestModel):
    card_number: CardNumber
    pin: Pin | None = None
    store_id: Text | None = None
    idempotence_key: IdempotenceKey | None = None


# Responses ----------


class ResponseModel(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class MoneyOut(ResponseModel):
    value: ResponseAmount
    currency: CurrencyCode


class BalanceResponse(MoneyOut):
    """The spendable balance: reserved (held) money is excluded."""


class IssuedIdentifier(ResponseModel):
    number: str
    pin: str


class IssueResponse(ResponseModel):
    identifier: IssuedIdentifier
    amount: MoneyOut


class ActivatedIdentifier(ResponseModel):
    number: str


class ActivateResponse(ResponseModel):
    identifier: ActivatedIdentifier


class DeactivateResponse(ResponseModel):
    deactivated_at: str = Field(
        description="UTC, ISO 8601 to the second", examples=["2026-11-25T10:11:17Z"]
    )


ErrorCode = Literal[
    "invalid_request",
    "invalid_card",
    "card_not_found",
    "card_not_active",
    "card_already_active",
    "card_deactivated",
    "card_expired",
    "currency_mismatch",
    "amount_out_of_range",
    "instrument_error",
    "failed_command",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "rate_limit",
    "internal_error",
    "retry_error",
]


class ErrorResponse(ResponseModel):
    error_code: ErrorCode
    message: str
