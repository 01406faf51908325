"""The route registry: the one list every route is declared in.

Each route carries its path, request and response models, the domain function that answers it,
its business errors, its notes and what its function may touch (``giftcard.grants``). The
Lambda entry point (``giftcard.http.route_handler``), the stack (``infra.functions``,
``infra.api``), the OpenAPI generator (``tools.openapi``) and the local gateway
(``tools.local_api``) all read this list. Adding a route is two edits: a ``Route`` here and the
domain function it names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from giftcard import grants, models, operator_models
from giftcard.grants import Access

#: The two APIs: NewStore's webhooks (API key) and the operators' back office (AWS_IAM, SigV4).
WEBHOOKS = "webhooks"
OPERATOR = "operator"
#: Who may call an operator route: the stack's two managed policies (finance includes support).
SUPPORT = "support"
FINANCE = "finance"

#: The domain functions' package: ``operation`` names ``<module>:<function>`` inside it.
DOMAIN_PACKAGE = "giftcard"


@dataclass(frozen=True)
class Route:
    function: str  #: the route's own Lambda (and its log group, role and metrics dimension)
    path: str  #: API Gateway resource path, {name} for a path parameter
    request: type[BaseModel]  #: the request body (path parameters merged in)
    response: type[BaseModel]  #: the 200 answer
    summary: str
    #: The domain function that answers, as ``module:function`` in ``giftcard`` (imported by the
    #: route's own Lambda only, so a function never loads another route's module).
    operation: str
    access: Access  #: what the function may touch (its IAM policy)
    #: The 400 errors it can answer besides ``invalid_request`` (error codes in giftcard.errors).
    errors: tuple[str, ...] = ()
    notes: str = ""  #: what the OpenAPI document says about it besides the summary
    method: str = "POST"
    api: str = WEBHOOKS  #: which API serves it (WEBHOOKS or OPERATOR)
    #: The least policy allowed to call an operator route (SUPPORT or FINANCE; FINANCE may call
    #: every operator route).
    policy: str | None = None

    def __post_init__(self) -> None:
        if (self.api == OPERATOR) != (self.policy in (SUPPORT, FINANCE)):
            raise ValueError(f"{self.function}: operator routes, and only they, name a policy")

    def resolve(self) -> Callable[[Any, Any], Any]:
        """The domain function (imported now)."""
        module, _, name = self.operation.partition(":")
        function = getattr(importlib.import_module(f"{DOMAIN_PACKAGE}.{module}"), name)
        if not callable(function):
            raise TypeError(f"{self.operation} is not a function")
        return function  # type: ignore[no-any-return]


_REDEMPTION_ERRORS = ("instrument_error", "failed_command")

WEBHOOK_ROUTES: tuple[Route, ...] = (
    Route(
        function="balance",
        path="/gift_card/balance",
        request=models.BalanceRequest,
        response=models.BalanceResponse,
        summary="Return the spendable balance of a gift card",
        operation="service:balance",
        access=grants.BALANCE,
        errors=(
            "invalid_card",
            "card_frozen",
            "card_not_active",
            "card_deactivated",
            "card_expired",
        ),
        notes=(
            "Called by the Associate App at checkout. Answers the spendable balance (reserved "
            "amounts excluded).\n\nOrder of checks: find the card, then the PIN (lockout first), "
            "then an operator's block (`card_frozen`: \"This card is blocked; contact customer "
            "service.\"), then the card's state. Everything before the PIN has matched answers "
            "`invalid_card` (one code and one message for unknown number, wrong PIN, missing "
            "PIN, locked PIN), so the endpoint is no oracle. 5 consecutive wrong PINs lock the "
            "card's PIN checks for 15 minutes (configurable); each guess is counted before it "
            "is answered, so a burst of concurrent guesses compares at most 5 PINs per lock "
            "window; each lockout in a row doubles the next (capped at 24 h) and the 5th in a "
            "row locks until an operator unlocks."
        ),
    ),
    Route(
        function="issue",
        path="/gift_card/issue",
        request=models.IssueRequest,
        response=models.IssueResponse,
        summary="Issue a new (virtual) gift card",
        operation="service:issue",
        access=grants.ISSUE,
        errors=("amount_out_of_range", "issuance_limit_reached"),
        notes=(
            "Issues a new virtual card with a generated number (configurable prefix and length, "
            "Luhn check digit) and PIN. The card is active and funded at once, unless the "
            "deployment sets ISSUED_CARDS_NEED_ACTIVATION (then an `original_operation: "
            "activation` issue creates an inactive, unfunded card that a later activate funds)."
        ),
    ),
    Route(
        function="activate",
        path="/gift_card/activate",
        request=models.ActivateRequest,
        response=models.ActivateResponse,
        summary="Activate a gift card and load its amount",
        operation="service:activate",
        access=grants.ACTIVATE,
        errors=(
            "amount_out_of_range",
            "issuance_limit_reached",
            "card_not_found",
            "card_frozen",
            "card_already_active",
            "card_deactivated",
        ),
        notes=(
            "Activates an inactive card (typically printed stock imported beforehand) and loads "
            "its amount; the card takes the activation's currency. Never generates a PIN. "
            "Unknown numbers answer `card_not_found` unless REGISTER_UNKNOWN_ON_ACTIVATION is "
            "on. A card an operator froze answers `card_frozen`, whatever its state."
        ),
    ),
    Route(
        function="deactivate",
        path="/gift_card/deactivate",
        request=models.DeactivateRequest,
        response=models.DeactivateResponse,
        summary="Deactivate a gift card, voiding its spendable balance",
        operation="service:deactivate",
        access=grants.DEACTIVATE,
        errors=("invalid_card",),
        notes=(
            "Deactivates a card (terminal) and voids its spendable balance. `pin` is optional; "
            "when sent it must match. Deactivating a deactivated card answers 200 with the "
            "original `deactivated_at` and changes nothing."
        ),
    ),
    Route(
        function="instrument_create",
        path="/financial_instruments",
        request=models.InstrumentCreateRequest,
        response=models.InstrumentCreateResponse,
        summary="Reserve funds on a gift card (create a financial instrument)",
        operation="redemption:reserve",
        access=grants.RESERVE,
        errors=("amount_out_of_range", "instrument_error"),
        notes=(
            "Reserves `amount` on the card (number and PIN, checked like balance): the card "
            "becomes a financial instrument whose `identifier` the capture, refund and revoke "
            "calls take. With `allow_partial` it reserves what the card has. Reserved money is "
            "held, not spendable, until captured or revoked; an uncaptured reservation is "
            "released after RESERVATION_EXPIRY_SECONDS (7 days by default). `instrument_error`: "
            "the card cannot pay (unknown, not verified, frozen by an operator, not active, "
            "currency, funds)."
        ),
    ),
    Route(
        function="instrument_capture",
        path="/financial_instruments/{instrument_id}/capture",
        request=models.InstrumentCaptureRequest,
        response=models.TransactionsResponse,
        summary="Capture reserved funds",
        operation="settlement:capture",
        access=grants.SETTLE,
        errors=_REDEMPTION_ERRORS,
        notes=(
            "Captures reserved money (the sale). `failed_command`: unknown instrument, expired "
            "reservation, or more than still reserved."
        ),
    ),
    Route(
        function="instrument_refund",
        path="/financial_instruments/{instrument_id}/refund",
        request=models.InstrumentRefundRequest,
        response=models.TransactionsResponse,
        summary="Refund captured funds to the card",
        operation="settlement:refund",
        access=grants.SETTLE,
        errors=_REDEMPTION_ERRORS,
        notes=(
            "Returns captured money to the card. `failed_command`: unknown instrument or more "
            "than captured and not yet refunded; `instrument_error`: the card is deactivated or "
            "expired."
        ),
    ),
    Route(
        function="instrument_revoke",
        path="/financial_instruments/{instrument_id}/revoke",
        request=models.InstrumentRevokeRequest,
        response=models.TransactionsResponse,
        summary="Release reserved funds to the card",
        operation="settlement:revoke",
        access=grants.SETTLE,
        errors=_REDEMPTION_ERRORS,
        notes=(
            "Releases reserved money back to the card's spendable balance (all of it without "
            "`amount`). `failed_command`: unknown instrument, nothing reserved, or more than "
            "reserved."
        ),
    ),
)


# The back office (operators, AWS_IAM) -------------------------------------------------------------

OPERATOR_ROUTES: tuple[Route, ...] = (
    Route(
        function="admin_card_lookup",
        path="/admin/cards/lookup",
        request=operator_models.LookupRequest,
        response=operator_models.CardResponse,
        summary="Look up a card by number or card_id",
        operation="backoffice:lookup",
        access=grants.CARD_LOOKUP,
        errors=("card_not_found",),
        notes=(
            "The card as an operator sees it (state, frozen, balance, held, PIN status, "
            "customer, open reservations). The number travels in the body only; every answer "
            "names the card by `card_id`."
        ),
        api=OPERATOR,
        policy=SUPPORT,
    ),
    Route(
        function="admin_card_history",
        path="/admin/cards/history",
        request=operator_models.HistoryRequest,
        response=operator_models.HistoryResponse,
        summary="A card's ledger entries, newest first",
        operation="backoffice:history",
        access=grants.CARD_HISTORY,
        errors=("card_not_found",),
        notes=(
            "A page of the card's entries (`limit` 1-200, default 50) newest first, with who "
            "(`actor`) and why (`reason`) for operator actions; `next_cursor` continues with "
            "older ones."
        ),
        api=OPERATOR,
        policy=SUPPORT,
    ),
    Route(
        function="admin_card_freeze",
        path="/admin/cards/freeze",
        request=operator_models.FreezeRequest,
        response=operator_models.CardResponse,
        summary="Block a card",
        operation="backoffice:freeze",
        access=grants.CARD_FREEZE_CHANGE,
        errors=("card_not_found",),
        notes=(
            "Blocks new spending and loading (balance and activate answer `card_frozen`, "
            "reserve `instrument_error`); captures, revokes, refunds and deactivation still "
            "work. Already frozen: unchanged, 200."
        ),
        api=OPERATOR,
        policy=SUPPORT,
    ),
    Route(
        function="admin_card_unfreeze",
        path="/admin/cards/unfreeze",
        request=operator_models.UnfreezeRequest,
        response=operator_models.CardResponse,
        summary="Lift a card's block",
        operation="backoffice:unfreeze",
        access=grants.CARD_FREEZE_CHANGE,
        errors=("card_not_found",),
        notes=("Lifts the block. Not frozen: unchanged, 200."),
        api=OPERATOR,
        policy=SUPPORT,
    ),
    Route(
        function="admin_card_unlock_pin",
        path="/admin/cards/unlock_pin",
        request=operator_models.UnlockPinRequest,
        response=operator_models.CardResponse,
        summary="Unlock a card's PIN",
        operation="backoffice:unlock_pin",
        access=grants.CARD_UNLOCK_PIN_CHANGE,
        errors=("card_not_found",),
        notes=("Clears the PIN's failures, lock, lockout streak and hard lock."),
        api=OPERATOR,
        policy=SUPPORT,
    ),
    Route(
        function="admin_card_adjust",
        path="/admin/cards/adjust",
        request=operator_models.AdjustRequest,
        response=operator_models.AdjustResponse,
        summary="Correct a card's balance",
        operation="backoffice:adjust",
        access=grants.CARD_ADJUST_CHANGE,
        errors=(
            "card_not_found",
            "card_not_active",
            "currency_mismatch",
            "insufficient_funds",
            "amount_out_of_range",
        ),
        notes=(
            "A signed correction of an active card's spendable balance in its currency: one "
            "`adjust` entry with actor and reason; never below 0 or above the currency's "
            "maximum; idempotent by `idempotency_key`."
        ),
        api=OPERATOR,
        policy=FINANCE,
    ),
    Route(
        function="admin_card_expiry",
        path="/admin/cards/expiry",
        request=operator_models.ExpiryRequest,
        response=operator_models.CardResponse,
        summary="Set or clear a card's expiry",
        operation="backoffice:expiry",
        access=grants.CARD_EXPIRY_CHANGE,
        errors=("card_not_found",),
        notes=("Sets `expires_at` (ISO 8601 UTC) or removes it (null)."),
        api=OPERATOR,
        policy=FINANCE,
    ),
    Route(
        function="admin_customer_cards",
        path="/admin/customers/cards",
        request=operator_models.CustomerCardsRequest,
        response=operator_models.CustomerCardsResponse,
        summary="A customer's cards",
        operation="backoffice:customers_cards",
        access=grants.CUSTOMER_CARDS,
        errors=(),
        notes=(
            "The cards issued or activated for a customer id, found through the customer index "
            "(a keyed hash of the id, never the id in clear)."
        ),
        api=OPERATOR,
        policy=SUPPORT,
    ),
    Route(
        function="admin_customer_erase",
        path="/admin/customers/erase",
        request=operator_models.CustomerEraseRequest,
        response=operator_models.CustomerEraseResponse,
        summary="Erase a customer's data",
        operation="backoffice:customers_erase",
        access=grants.CUSTOMER_ERASE,
        errors=(),
        notes=(
            "Removes the customer data and the index entry from every card of that customer and "
            "records a `customer_erased` entry on each; balances and the ledger stay."
        ),
        api=OPERATOR,
        policy=FINANCE,
    ),
    Route(
        function="admin_audit_run",
        path="/admin/audit/run",
        request=models.AuditRunRequest,
        response=models.AuditRunResponse,
        summary="Start the reconciliation audit now",
        operation="reports:audit_run",
        access=grants.AUDIT_START,
        notes=(
            "Starts the audit job the schedule runs nightly (`status: started`; the local run "
            "runs it in the request and answers `finished`)."
        ),
        api=OPERATOR,
        policy=FINANCE,
    ),
    Route(
        function="admin_audit_latest",
        path="/admin/audit/latest",
        request=models.AuditLatestRequest,
        response=models.AuditResponse,
        summary="The latest audit",
        operation="reports:audit_latest",
        access=grants.AUDIT_READ,
        errors=("audit_not_found",),
        notes="The latest kept audit: reconciliation, liability, dormancy, expiring cards.",
        method="GET",
        api=OPERATOR,
        policy=FINANCE,
    ),
    Route(
        function="admin_report_liability",
        path="/admin/reports/liability",
        request=models.ReportRequest,
        response=models.LiabilityResponse,
        summary="Outstanding liability per currency",
        operation="reports:report_liability",
        access=grants.AUDIT_READ,
        errors=("audit_not_found",),
        notes=(
            "What the programme owes per currency as of an audit: `?date=YYYY-MM-DD` for the "
            "last audit of that day, the latest audit without it."
        ),
        method="GET",
        api=OPERATOR,
        policy=FINANCE,
    ),
    Route(
        function="admin_report_dormancy",
        path="/admin/reports/dormancy",
        request=models.ReportRequest,
        response=models.DormancyResponse,
        summary="Dormant cards per currency",
        operation="reports:report_dormancy",
        access=grants.AUDIT_READ,
        errors=("audit_not_found",),
        notes="Cards and outstanding money by time since last activity, per currency.",
        method="GET",
        api=OPERATOR,
        policy=FINANCE,
    ),
)

#: The back office's routes by the name of their domain function (``backoffice.<name>``).
OPERATOR_ROUTES_BY_OPERATION: dict[str, Route] = {
    route.operation.partition(":")[2]: route for route in OPERATOR_ROUTES
}

#: Every route: NewStore's webhooks, then the back office.
ROUTES: tuple[Route, ...] = (*WEBHOOK_ROUTES, *OPERATOR_ROUTES)

ROUTES_BY_FUNCTION: dict[str, Route] = {route.function: route for route in ROUTES}

#: The environment variable the stack sets on each route's Lambda: the route's function name.
ROUTE_VARIABLE = "GIFTCARD_ROUTE"

#: Functions without a route.
AUTHORIZER = "authorizer"
SCHEDULED = ("reservation_expiry",)
