"""Deployment settings: the one module that reads the environment.

Every setting has a documented default (docs/contract.md, "Configuration"). The CDK stack sets these
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

#: The per-card maximum's default is worth roughly the same in every currency (contract:
#: "Defaults (decided)"): ``MAX_CARD_BALANCE`` (10,000) times this factor, in major units.
#:
#: Rule: a currency worth between half and twice a US dollar (USD, EUR, GBP, CHF, CAD, AUD, JOD,
#: ...) has factor 1 and is not listed. For the others the factor is the number of units per US
#: dollar (mid-market rates of 2024-25), rounded to the nearest (by ratio) of 1, 1.5, 2, 3, 5 or
#: 7.5 times a power of ten, so every maximum is a round number within about 25% of 10,000 USD:
#: JPY ~150/USD -> 150 -> 1,500,000 JPY; KRW ~1,400/USD -> 1,500 -> 15,000,000 KRW. Fund and
#: accounting codes (CLF, COU, MXV, UYI, UYW, XAD) follow the same rule; codes without minor
#: units (XDR, XAU...) are refused anyway. ARS, CUP, ETB, SDG, SSP, TRY, VES/VED and ZWG move fast:
#: review this table yearly, and pin a currency with ``MAX_CARD_BALANCE_BY_CURRENCY`` meanwhile.
#: docs/contract.md's "Per-currency maximum" table lists the resulting defaults (a test keeps
#: it current).
_SCALE_GROUPS = {
    "0.03": "CLF",
    "0.3": "BHD KWD OMR XAD",
    "2": "FJD MXV TOP",
    "3": "AED BYN GEL ILS PEN QAR SAR TMT TND WST XCD",
    "5": "BRL LYD MYR PGK PLN RON",
    "7.5": "BOB CNY DKK GTQ HKD MOP SBD TTD UYI",
    "10": "COU MAD NOK SEK SVC TJS",
    "15": "BWP ERN GHS MVR SCR",
    "20": "CUP CZK LSL MDL MXN NAD SLE STN SZL ZAR",
    "30": "HNL NIO SRD THB TRY TWD UYW ZMW ZWG",
    "50": "DOP EGP MKD MRU MUR PHP UAH UYU VED VES",
    "75": "AFN BTN GMD INR MZN",
    "100": "ALL BDT CVE KGS RSD RUB VUV XPF",
    "150": "DZD ETB HTG ISK JMD JPY KES NPR",
    "200": "DJF GYD LRD",
    "300": "HUF LKR PKR YER",
    "500": "AMD CRC KMF KZT SDG SOS XAF XOF",
    "1000": "AOA ARS CLP KPW",
    "1500": "IQD KRW MWK NGN RWF",
    "2000": "MMK",
    "3000": "BIF CDF MNT SSP TZS UGX",
    "5000": "COP KHR MGA",
    "7500": "GNF PYG",
    "15000": "IDR SYP UZS",
    "20000": "LAK",
    "30000": "VND",
    "50000": "IRR",
    "100000": "LBP",
}
MAXIMUM_SCALE: Mapping[str, Decimal] = {
    code: Decimal(factor) for factor, codes in _SCALE_GROUPS.items() for code in codes.split()
}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = "giftcards"
    #: Secrets Manager secret holding the key material (HMAC lookup / PIN / replay encryption).
    keys_secret_id: str = "giftcards/key-material"
    #: Secrets Manager secret holding the active API keys.
    api_keys_secret_id: str = "giftcards/api-keys"
    #: How long secrets are cached in a warm Lambda (a revoked API key stops working after this).
    secrets_cache_seconds: int = Field(default=60, ge=0, le=3600)
    #: EventBridge bus the event publisher puts one event per ledger entry on (the stack's own).
    event_bus_name: str = "default"
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
    #: Per-card maximum in major units of USD and currencies of similar value; other currencies
    #: default to it times ``MAXIMUM_SCALE``. Per-currency overrides (major units) win over both.
    max_card_balance: Decimal = Decimal(10000)
    max_card_balance_by_currency: Mapping[str, Decimal] = Field(default_factory=dict)

    #: Anti-minting: the value issued and activated per currency per UTC day may not pass this
    #: many times the currency's per-card maximum (or the per-currency ceiling, major units);
    #: ``issuance_alert_fraction`` of it raises an alarm.
    issuance_ceiling_factor: int = Field(default=100, ge=1, le=10**9)
    issuance_ceiling_by_currency: Mapping[str, Decimal] = Field(default_factory=dict)
    issuance_alert_fraction: Decimal = Field(default=Decimal("0.8"), gt=0, le=1)

    #: Largest accepted request body (API Gateway enforces it in AWS, the local gateway locally).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    #: Bounded retries for transaction conflicts and throttling, then 503 retry_error.
    storage_max_attempts: int = Field(default=25, ge=1, le=100)

    #: The audit's parallel scan: segments read at once, each in its own thread.
    audit_segments: int = Field(default=4, ge=1, le=64)
    #: The audit job's function: ``POST /admin/audit/run`` starts it there (asynchronously); empty
    #: (the local run) runs the audit within the request.
    audit_function_name: str = ""

    def max_balance_for(self, currency: str) -> Decimal:
        """The per-card maximum in major units: the override, else the scaled default."""
        override = self.max_card_balance_by_currency.get(currency)
        if override is not None:
            return override
        return self.max_card_balance * MAXIMUM_SCALE.get(currency, Decimal(1))

    def issuance_ceiling_for(self, currency: str) -> Decimal:
        """The day's ceiling of value loaded in ``currency`` (major units)."""
        override = self.issuance_ceiling_by_currency.get(currency)
        if override is not None:
            return override
        return self.max_balance_for(currency) * self.issuance_ceiling_factor

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
    """``JPY=2000000,KRW=20000000``: each code an active ISO 4217 currency, at most once."""
    from iso4217 import Currency  # deferred: parsed only when the variable is set

    result: dict[str, Decimal] = {}
    for pair in raw.split(","):
        if not pair.strip():
            continue
        code, separator, amount = pair.partition("=")
        code = code.strip().upper()
        if not separator:
            raise ValueError(f"expected CODE=AMOUNT, got {pair.strip()!r}")
        try:
            Currency(code)
        except ValueError:
            raise ValueError(f"not an ISO 4217 currency code: {code!r}") from None
        if code in result:
            raise ValueError(f"{code} is given twice")
        result[code] = _decimal(amount)
    return result


#: Environment variable -> (setting name, parser). docs/contract.md's configuration table
#: lists these.
ENVIRONMENT: dict[str, tuple[str, object]] = {
    "TABLE_NAME": ("table_name", str),
    "KEYS_SECRET_ID": ("keys_secret_id", str),
    "API_KEYS_SECRET_ID": ("api_keys_secret_id", str),
    "SECRETS_CACHE_SECONDS": ("secrets_cache_seconds", int),
    "API_KEY_HEADER": ("api_key_header", str),
    "EVENT_BUS_NAME": ("event_bus_name", str),
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
    "ISSUANCE_CEILING_FACTOR": ("issuance_ceiling_factor", int),
    "ISSUANCE_CEILING_BY_CURRENCY": ("issuance_ceiling_by_currency", _currency_map),
    "ISSUANCE_ALERT_FRACTION": ("issuance_alert_fraction", _decimal),
    "MAX_BODY_BYTES": ("max_body_bytes", int),
    "STORAGE_MAX_ATTEMPTS": ("storage_max_attempts", int),
    "AUDIT_SEGMENTS": ("audit_segments", int),
    "AUDIT_FUNCTION_NAME": ("audit_function_name", str),
}


def settings_from(environ: Mapping[str, str]) -> Settings:
    values: dict[str, object] = {}
    for variable, (name, parse) in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is not None and raw != "":
            try:
                values[name] = parse(raw)  # type: ignore[operator]
            except ValueError as exc:
                raise ValueError(f"{variable}: {exc}") from exc
    return Settings(**values)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once (tests call ``get_settings.cache_clear()``)."""
    return settings_from(os.environ)
