"""Every error the service answers with, and the one place that turns them into replies.

An error is identified by its type, never by its message text. Messages are fixed per type and
never contain a card number, PIN, key or customer data.
"""

from __future__ import annotations

from giftcard.replies import Reply


class ServiceError(Exception):
    status = 500
    error_code = "internal_error"
    message = "An unexpected error occurred. No change was made."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message is not None:
            self.message = message


# 400: decided against stored state (stored and replayed under an idempotency key) --------------


class BusinessError(ServiceError):
    """A 400 (the back office's unknown card: 404) decided against stored state: stored under the
    idempotency key and replayed."""

    status = 400


class InvalidCard(BusinessError):
    error_code = "invalid_card"
    message = "The gift card could not be verified."


class CardNotFound(BusinessError):
    error_code = "card_not_found"
    message = "No gift card with this number exists."


class CardNotActive(BusinessError):
    error_code = "card_not_active"
    message = "The gift card has not been activated."


class CardAlreadyActive(BusinessError):
    error_code = "card_already_active"
    message = "The gift card is already active."


class CardDeactivated(BusinessError):
    error_code = "card_deactivated"
    message = "The gift card has been deactivated."


class CardExpired(BusinessError):
    error_code = "card_expired"
    message = "The gift card has expired."


class CurrencyMismatch(BusinessError):
    error_code = "currency_mismatch"
    message = "The amount's currency differs from the gift card's currency."


class InstrumentError(BusinessError):
    """Redemption: the card cannot pay (unknown, wrong PIN, locked, state, currency, funds)."""

    error_code = "instrument_error"
    message = "The gift card cannot be used for this payment."


class FailedCommand(BusinessError):
    """Redemption: the command does not fit the instrument (over-capture, unknown instrument...)."""

    error_code = "failed_command"
    message = "The command cannot be carried out on this financial instrument."


class CardFrozen(BusinessError):
    """Balance and activate on a card an operator froze (after the PIN is proven)."""

    error_code = "card_frozen"
    message = "This card is blocked; contact customer service."


class InsufficientFunds(BusinessError):
    """Back office: an adjustment would take the spendable balance below 0."""

    error_code = "insufficient_funds"
    message = "The adjustment is more than the card's spendable balance."


class BalanceOutOfRange(BusinessError):
    """Back office: an adjustment would take the balance over the currency's per-card maximum
    (decided against the stored balance, so stored under the key, unlike ``AmountOutOfRange``)."""

    error_code = "amount_out_of_range"
    message = "The resulting balance would be over the maximum allowed for a gift card."


class UnknownCard(BusinessError):
    """Back office: no card with this number or card_id (404, unlike activate's 400)."""

    status = 404
    error_code = "card_not_found"
    message = "No gift card with this number or card_id exists."


# 400: about the request itself (never stored) ----------------------------------------------------


class InvalidRequest(ServiceError):
    status = 400
    error_code = "invalid_request"
    message = "The request is not valid."


class IssuanceLimitReached(BusinessError):
    """Issue/activate past the deployment's daily ceiling of value loaded per currency."""

    error_code = "issuance_limit_reached"
    message = "The daily limit of gift card value issued in this currency has been reached."


class AmountOutOfRange(ServiceError):
    status = 400
    error_code = "amount_out_of_range"
    message = "The amount is over the maximum allowed for a gift card."


# Transport and platform errors ----------


class Unauthorized(ServiceError):
    status = 401
    error_code = "unauthorized"
    message = "Missing or invalid API key."


class Forbidden(ServiceError):
    """Refused by the WAF's IP allow-list (and, for operators, by IAM)."""

    status = 403
    error_code = "forbidden"
    message = "Access denied."


class NotFound(ServiceError):
    status = 404
    error_code = "not_found"
    message = "No such endpoint."


class AuditNotFound(ServiceError):
    """Reports and ``audit/latest`` before any audit finished (or none on the date asked)."""

    status = 404
    error_code = "audit_not_found"
    message = "No finished audit was found (none has run yet, or none on the date asked)."


class MethodNotAllowed(ServiceError):
    status = 405
    error_code = "method_not_allowed"
    message = "Only POST is supported."


class PayloadTooLarge(ServiceError):
    status = 413
    error_code = "payload_too_large"
    message = "The request body is too large."


class RateLimited(ServiceError):
    status = 429
    error_code = "rate_limit"
    message = "Too many requests. Retry later."


class RetryError(ServiceError):
    """Storage throttling or conflicts outlasted the bounded retries; nothing was committed."""

    status = 503
    error_code = "retry_error"
    message = "The service is busy. No change was made; retry with the same idempotence key."


class InternalError(ServiceError):
    status = 500
    error_code = "internal_error"


def error_body(error_code: str, message: str) -> str:
    from giftcard.jsonio import dumps

    return dumps({"error_code": error_code, "message": message})


def reply_for(error: ServiceError) -> Reply:
    """The one mapping from an error to the contract's error body."""
    return Reply(error.status, error_body(error.error_code, error.message))
