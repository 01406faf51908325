"""The API's routes: one list for the stack, the local gateway and the OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    function: str  #: folder under functions/ (one Lambda per route)
    path: str  #: API Gateway resource path, {name} for a path parameter
    request: str  #: request model name in giftcard.models
    response: str  #: 200 response model name in giftcard.models
    summary: str
    method: str = "POST"


ROUTES: tuple[Route, ...] = (
    Route(
        "balance",
        "/gift_card/balance",
        "BalanceRequest",
        "BalanceResponse",
        "Return the spendable balance of a gift card",
    ),
    Route(
        "issue",
        "/gift_card/issue",
        "IssueRequest",
        "IssueResponse",
        "Issue a new (virtual) gift card",
    ),
    Route(
        "activate",
        "/gift_card/activate",
        "ActivateRequest",
        "ActivateResponse",
        "Activate a gift card and load its amount",
    ),
    Route(
        "deactivate",
        "/gift_card/deactivate",
        "DeactivateRequest",
        "DeactivateResponse",
        "Deactivate a gift card, voiding its spendable balance",
    ),
    Route(
        "instrument_create",
        "/financial_instruments",
        "InstrumentCreateRequest",
        "InstrumentCreateResponse",
        "Reserve funds on a gift card (create a financial instrument)",
    ),
    Route(
        "instrument_capture",
        "/financial_instruments/{instrument_id}/capture",
        "InstrumentCaptureRequest",
        "TransactionsResponse",
        "Capture reserved funds",
    ),
    Route(
        "instrument_refund",
        "/financial_instruments/{instrument_id}/refund",
        "InstrumentRefundRequest",
        "TransactionsResponse",
        "Refund captured funds to the card",
    ),
    Route(
        "instrument_revoke",
        "/financial_instruments/{instrument_id}/revoke",
        "InstrumentRevokeRequest",
        "TransactionsResponse",
        "Release reserved funds to the card",
    ),
)

#: Functions without a route.
AUTHORIZER = "authorizer"
SCHEDULED = ("reservation_expiry",)
