"""Deployment settings: the one module that reads the environment.

Every setting has a documented default (README, "Configuration"). The CDK stack sets these
variables on each function from CDK context; the local run takes them from its own environment.

No ``from __future__ import annotations``: pydantic would evaluate each field's annotation from
its string when the class is created, on every cold start.
"""

import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

#: Idempotency keys are kept at least this long (contract: "at least 30 days").
MIN_IDEMPOTENCY_RETENTION_DAYS = 30


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = "giftcards"
    #: Secrets Manager secret holding the key material (HMAC lookup / PIN / replay encryption).
    keys_secret_id: str = "giftcards/key-material"
    #: Secrets Manager secret holding the active API keys.
    api_keys_secret_id: str = "giftcards/api-keys"
    #: How long secrets are cached in a warm Lambda (a revoked API key stops working after this).
    secrets_cache_seconds: int = Field(default=60, ge=0, le=3600)
    #: Request header carrying the API key (raw key or "Bearer <key>").
    api_key_header: str = "Authorization"

    issued_cards_need_activation: bool = False
    register_unknown_on_activation: bool = False

    card_number_prefix: str = Field(default="7777", pattern=r"^[0-9]{0,12}$")
    card_number_length: int = Field(default=16, ge=12, le=19)
    pin_length: int = Field(default=4, ge=4, le=12)

    pin_max_failures: int = Field(default=5, ge=1, le=100)
    pin_lockout_seconds: int = Field(default=900, ge=1, le=86400 * 30)

    idempotency_retention_days: int = Field(default=30, ge=MIN_IDEMPOTENCY_RETENTION_DAYS)
    #: Cards expire this many days after activation/issue; 0 means cards never expire.
    card_expiry_days: int = Field(default=0, ge=0)
    #: Reservations (financial instruments) not captured or revoked are released after this.
    reservation_expiry_seconds: int = Field(default=7 * 86400, ge=60)

    #: Accepted ISO 4217 codes; empty means every active currency with minor units.
    accepted_currencies: frozenset[str] = frozenset()
    #: Per-card maximum in major units, and per-currency overrides.
    max_card_balance: Decimal = Decimal(10000)
    max_card_balance_by_currency: Mapping[str, Decimal] = Field(default_factory=dict)

    #: Largest accepted request body (API Gateway enforces it in AWS, the local gateway locally).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    #: Bounded retries for transaction conflicts and throttling, then 503 retry_error.
    storage_max_attempts: int = Field(default=25, ge=1, le=100)

    def max_balance_for(self, currency: str) -> Decimal:
        return self.max_card_balance_by_currency.get(currency, self.max_card_balance)

    def model_post_init(self, __context: object) -> None:
        # prefix + at least 8 random digits + the Luhn digit, so numbers cannot run out.
        if len(self.card_number_prefix) + 9 > self.card_number_length:
            raise ValueError("CARD_NUMBER_PREFIX leaves fewer than 8 random digits")


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _decimal(raw: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {raw!r}") from exc
    if not value.is_finite() or value <= 0:
        raise ValueError(f"not a positive number: {raw!r}")
    return value


def _currency_list(raw: str) -> frozenset[str]:
    return frozenset(code.strip().upper() for code in raw.split(",") if code.strip())


def _currency_map(raw: str) -> dict[str, Decimal]:
    result: dict[str, Decimal] = {}
    for pair in raw.split(","):
        if not pair.strip():
            continue
        code, _, amount = pair.partition("=")
        result[code.strip().upper()] = _decimal(amount)
    return result


#: Environment variable -> (setting name, parser). The README's configuration table lists these.
ENVIRONMENT: dict[str, tuple[str, object]] = {
    "TABLE_NAME": ("table_name", str),
    "KEYS_SECRET_ID": ("keys_secret_id", str),
    "API_KEYS_SECRET_ID": ("api_keys_secret_id", str),
    "SECRETS_CACHE_SECONDS": ("secrets_cache_seconds", int),
    "API_KEY_HEADER": ("api_key_header", str),
    "ISSUED_CARDS_NEED_ACTIVATION": ("issued_cards_need_activation", _bool),
    "REGISTER_UNKNOWN_ON_ACTIVATION": ("register_unknown_on_activation", _bool),
    "CARD_NUMBER_PREFIX": ("card_number_prefix", str),
    "CARD_NUMBER_LENGTH": ("card_number_length", int),
    "PIN_LENGTH": ("pin_length", int),
    "PIN_MAX_FAILURES": ("pin_max_failures", int),
    "PIN_LOCKOUT_SECONDS": ("pin_lockout_seconds", int),
    "IDEMPOTENCY_RETENTION_DAYS": ("idempotency_retention_days", int),
    "CARD_EXPIRY_DAYS": ("card_expiry_days", int),
    "RESERVATION_EXPIRY_SECONDS": ("reservation_expiry_seconds", int),
    "ACCEPTED_CURRENCIES": ("accepted_currencies", _currency_list),
    "MAX_CARD_BALANCE": ("max_card_balance", _decimal),
    "MAX_CARD_BALANCE_BY_CURRENCY": ("max_card_balance_by_currency", _currency_map),
    "MAX_BODY_BYTES": ("max_body_bytes", int),
    "STORAGE_MAX_ATTEMPTS": ("storage_max_attempts", int),
}


def settings_from(environ: Mapping[str, str]) -> Settings:
    values: dict[str, object] = {}
    for variable, (name, parse) in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is not None and raw != "":
            values[name] = parse(raw)  # type: ignore[operator]
    return Settings(**values)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once (tests call ``get_settings.cache_clear()``)."""
    return settings_from(os.environ)
