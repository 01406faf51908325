"""Request, response and error models (pydantic v2): the contract at the boundary.

Forgiving where the contract says so (unknown fields anywhere are ignored, metadata is free-form),
strict where money is concerned (amounts must be JSON numbers, never strings or booleans).
Requests are parsed with every JSON number as ``Decimal`` (see ``jsonio``).

No ``from __future__ import annotations`` here: pydantic would have to evaluate every field's
annotation from its string at class creation (each handler's cold start); written plainly, the
class body evaluates them once, for free.
"""

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from giftcard.jsonio import dumps

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
    "issuance_limit_reached",
    "card_frozen",
    "insufficient_funds",
    "instrument_error",
    "failed_command",
    "unauthorized",
    "forbidden",
    "not_found",
    "audit_not_found",
    "method_not_allowed",
    "payload_too_large",
    "rate_limit",
    "internal_error",
    "retry_error",
]


class ErrorResponse(ResponseModel):
    error_code: ErrorCode
    message: str


# Redemption (payment provider webhooks) ----------------------------------------------------------
# NewStore spends gift cards through its Payment Provider Webhooks: a financial instrument reserves
# funds on a card, then capture, refund and revoke move them. docs/contract.md's section
# "Spending a card: the payment-provider webhooks" is the contract.

IdempotencyKey = Annotated[
    str,
    Field(
        strict=True,
        min_length=1,
        max_length=255,
        description=(
            "Required. Retries with the same key on the same operation get the first response, "
            "whatever their parameters."
        ),
    ),
]
InstrumentId = Annotated[
    str,
    Field(
        strict=True,
        min_length=1,
        max_length=1024,
        description="The instrument's identifier (from the reserve answer); any other is unknown.",
    ),
]
#: Payment metadata is echoed in every transaction of the answer (twice in a capture's): at most
#: this many bytes as echoed keeps every answer under 64 KiB (contract: "Free-form fields"), and
#: far under Lambda's 6 MB response limit, whatever ``MAX_BODY_BYTES`` allows in.
MAX_METADATA_BYTES = 16 * 1024


def _echo_fits(metadata: dict[str, Any]) -> dict[str, Any]:
    if len(dumps(metadata).encode()) > MAX_METADATA_BYTES:
        raise PydanticCustomError(
            "metadata_too_large", f"must be at most {MAX_METADATA_BYTES} bytes as JSON"
        )
    return metadata


#: Free-form, echoed in every transaction of the answer (numbers exactly as written).
PaymentMetadata = Annotated[
    dict[str, Any],
    AfterValidator(_echo_fits),
    Field(
        description=(
            "Free-form; echoed in the transactions of the answer, numbers exactly as written. "
            f"At most {MAX_METADATA_BYTES // 1024} KiB as JSON."
        )
    ),
]


class InstrumentCreateRequest(RequestModel):
    """Reserve funds on a card: the card becomes a financial instrument."""

    idempotency_key: IdempotencyKey
    instrument: CardIdentifier
    amount: Amount
    currency: CurrencyCode
    account_id: Text | None = Field(default=None, description="NewStore's payment account (order).")
    allow_partial: bool = Field(
        default=False,
        strict=True,
        description="false: reserve the whole amount or fail; true: reserve what the card has.",
    )
    metadata: PaymentMetadata | None = None


class InstrumentCaptureRequest(RequestModel):
    instrument_id: InstrumentId
    idempotency_key: IdempotencyKey
    amount: Amount
    currency: CurrencyCode
    metadata: PaymentMetadata | None = None


class InstrumentRefundRequest(RequestModel):
    instrument_id: InstrumentId
    idempotency_key: IdempotencyKey
    amount: Amount
    currency: CurrencyCode
    metadata: PaymentMetadata | None = None


class InstrumentRevokeRequest(RequestModel):
    instrument_id: InstrumentId
    idempotency_key: IdempotencyKey
    amount: Amount | None = Field(default=None, description="Default: all still reserved.")
    currency: CurrencyCode | None = Field(
        default=None, description="Optional; when sent it must be the instrument's currency."
    )
    metadata: PaymentMetadata | None = None


TransactionReason = Literal["authorization", "capture", "refund", "revoke"]


class InstrumentTransaction(ResponseModel):
    """One movement on an instrument. Signed amounts: what became capturable (``capture_amount``)
    and refundable (``refund_amount``); the amount a transaction does not move is 0."""

    transaction_id: str
    instrument_id: str
    capture_amount: SignedAmount
    refund_amount: SignedAmount
    currency: CurrencyCode
    reason: TransactionReason
    processed_at: str = Field(
        description="UTC, ISO 8601 to the second", examples=["2026-11-25T10:11:17Z"]
    )
    metadata: dict[str, Any]


class InstrumentCreateResponse(ResponseModel):
    identifier: str = Field(description="The instrument id for capture, refund and revoke.")
    transactions: list[InstrumentTransaction]


class TransactionsResponse(ResponseModel):
    transactions: list[InstrumentTransaction]


# The audit and its reports (operator API) -------------------------------------------------------
# docs/back-office: "The nightly audit" and the Liability, Dormancy and Audit answers.


class AuditRunRequest(RequestModel):
    """``POST /admin/audit/run`` takes ``{}``."""


class AuditLatestRequest(RequestModel):
    """``GET /admin/audit/latest`` takes nothing."""


def _calendar_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date", "must be a date, YYYY-MM-DD") from None
    return value


AuditDate = Annotated[
    str,
    Field(strict=True, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="YYYY-MM-DD (UTC)"),
    AfterValidator(_calendar_date),
]


class ReportRequest(RequestModel):
    """``GET /admin/reports/liability|dormancy?date=YYYY-MM-DD``: the latest audit that started
    on that UTC day; without ``date``, the latest audit."""

    date: AuditDate | None = None


class AuditRunResponse(ResponseModel):
    audit_id: str
    status: Literal["started", "finished"] = Field(
        description="started: the audit job runs on its own; finished: it ran within the request"
    )


class LiabilityCurrency(ResponseModel):
    currency: CurrencyCode
    cards: int
    spendable: MoneyOut
    held: MoneyOut
    outstanding: MoneyOut = Field(description="spendable + held")


class LiabilityResponse(ResponseModel):
    """What is owed on active cards (frozen or not) per currency, as of the audit's start."""

    as_of: str
    audit_id: str
    currencies: list[LiabilityCurrency]


DormancyBucketName = Literal["<1y", "1-2y", "2-3y", "3-5y", ">=5y"]


class DormancyBucket(ResponseModel):
    bucket: DormancyBucketName
    cards: int
    outstanding: MoneyOut


class DormancyCurrency(ResponseModel):
    currency: CurrencyCode
    buckets: list[DormancyBucket]


class DormancyResponse(ResponseModel):
    """Liability by time since the card's last activity, per currency."""

    as_of: str
    audit_id: str
    currencies: list[DormancyCurrency]


class AuditMismatch(ResponseModel):
    card_id: str
    problem: str


class Expiring(ResponseModel):
    model_config = ConfigDict(
        frozen=True, defer_build=True, serialize_by_alias=True, validate_by_name=True
    )

    within_30_days: int = Field(alias="30d")
    within_90_days: int = Field(alias="90d")


class AuditResponse(ResponseModel):
    audit_id: str
    as_of: str = Field(description="the audit's start, which its figures are as of")
    finished_at: str
    cards_checked: int
    entries_checked: int
    mismatches: list[AuditMismatch]
    liability: LiabilityResponse
    dormancy: DormancyResponse
    expiring: Expiring
