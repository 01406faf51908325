"""What the OpenAPI document says besides the route registry and the models: the API's
description, the idempotency note and the errors every route can answer (``tools.openapi``
builds the document from these, ``giftcard.routes`` (each route's errors and notes) and the
models)."""

from __future__ import annotations

IDEMPOTENCY_NOTE = (
    "With an `{field}`, the first completed answer (a 200 or a business 400) is stored "
    "and every later request with that key on this endpoint gets the same status and body, "
    "whatever its parameters. Validation failures, 401 and 5xx are not stored."
)
#: The idempotency key's field: the gift card webhooks' and the payment provider webhooks' name.
IDEMPOTENCY_FIELDS = ("idempotence_key", "idempotency_key")

API_DESCRIPTION = """\
Gift card provider webhooks for NewStore ("Gift Card Provider Webhooks v0").

**Authentication**: the API key travels in one request header, `{header}` by default (the
header name is set at deploy time, e.g. `X-Api-Key`), as the raw key or `Bearer <key>`.
A missing or wrong key answers `401 unauthorized`.

**Money**: `{{"value": <JSON number>, "currency": "<ISO 4217>"}}`, `value` in major units
(`25.5` = 25.50). A string value, more decimals than the currency has, a zero or negative
amount, or an unknown or not accepted currency is `400 invalid_request`; an amount over the
per-card maximum is `400 amount_out_of_range`. The maximum's default is worth about the same in
every currency: 10,000 major units for USD, EUR, GBP, CHF and currencies of similar value,
scaled for the others (1,500,000 JPY, 15,000,000 KRW; docs/contract.md lists them all).

**Numbers**: a JSON number with more than 100 digits or an exponent beyond +-1000 is
`400 invalid_request`, wherever it is. Payment `metadata` (at most 16 KiB) is echoed with its
numbers exactly as written.

**Idempotency**: the gift card webhooks' mutating calls take an optional `idempotence_key`,
the payment provider (redemption) calls a required `idempotency_key` (1-255 characters). The
first completed answer is replayed, byte for byte, for every later request with the same key on
the same endpoint, whatever its parameters. Keys are kept at least 30 days.

**Errors**: every non-2xx answer has the body `{{"error_code": "...", "message": "..."}}`; the
message never contains a card number, PIN or key. `500 internal_error` means nothing was
committed. `503 retry_error` means the request may be retried with the same key: storage stayed
busy beyond the bounded retries (nothing committed), or the gateway got no answer in time (a
function timeout, crash or throttling: the request may have committed, and the retry replays its
answer or executes it once).

**Limits**: request bodies over 64 KiB answer `413 payload_too_large`. Unknown fields anywhere
in a request body are accepted and ignored.
"""

#: Transport and platform errors every route can answer: status -> (error code, when).
COMMON_ERRORS: tuple[tuple[int, str, str], ...] = (
    (401, "unauthorized", "Missing or wrong API key. Nothing was read or changed."),
    (404, "not_found", "Unknown path."),
    (405, "method_not_allowed", "A method other than POST on a known path."),
    (413, "payload_too_large", "Request body over the configured limit (64 KiB by default)."),
    (429, "rate_limit", "Throttled (stage throttling or WAF rate rule). Retry later."),
    (500, "internal_error", "Unexpected failure; no effect was committed."),
    (
        503,
        "retry_error",
        "Retry with the same idempotency key. Storage busy beyond the bounded retries, or the "
        "key store unavailable (no effect was committed); or API Gateway got no answer in time "
        "(function timeout, crash or throttling; the request may have committed, and the retry "
        "with the same key replays that answer or executes it once).",
    ),
)
