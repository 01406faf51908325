"""Deployment configuration: every name and setting comes from CDK context, with a default here.

Context is given in ``cdk.json``, ``cdk.context.json`` or on the command line
(``cdk deploy -c throttle_rate=100``); command-line values arrive as strings, ``cdk.json`` values as
JSON types, so every reader accepts both. docs/deploy.md ("Settings (CDK context)") lists the
keys with these defaults.

The service settings (``issued_cards_need_activation`` ...) are the snake_case names of the
variables in ``giftcard.settings.ENVIRONMENT``; only the ones given in context are set on the
functions, so the code's defaults apply otherwise. They are validated here, at synth time, with the
same parser the functions use, so a bad value fails ``cdk synth`` instead of every cold start.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aws_cdk import aws_logs as logs

from giftcard.settings import ENVIRONMENT, settings_from
from infra import PROJECT_ROOT

#: Variables the stack sets itself from its own resources or stack settings.
STACK_OWNED_VARIABLES = frozenset(
    {
        "TABLE_NAME",
        "KEYS_SECRET_ID",
        "API_KEYS_SECRET_ID",
        "API_KEY_HEADER",
        "MAX_BODY_BYTES",
        "EVENT_BUS_NAME",
        # the audit job's (infra/audit.py): from audit_segments, and the function's own name
        "AUDIT_SEGMENTS",
        "AUDIT_FUNCTION_NAME",
    }
)


def _issuance_factor(raw: str) -> None:
    if int(raw) < 1:
        raise ValueError("issuance_ceiling_factor must be at least 1")


def _issuance_by_currency(raw: str) -> None:
    for pair in filter(None, (part.strip() for part in raw.split(","))):
        code, _, amount = pair.partition("=")
        value = Decimal(amount.strip())  # raises on a non-number
        if not re.fullmatch(r"[A-Za-z]{3}", code.strip()) or not value.is_finite() or value <= 0:
            raise ValueError(f"issuance_ceiling_by_currency: not CODE=AMOUNT: {pair!r}")


def _issuance_fraction(raw: str) -> None:
    value = Decimal(raw.strip())
    if not value.is_finite() or not 0 < value <= 1:
        raise ValueError("issuance_alert_fraction must be within (0, 1]")


#: The daily issuance ceiling's settings (issue 11). While ``giftcard.settings`` does not read
#: them yet they are validated here; once it does, its parser validates them like the others.
ISSUANCE_SETTINGS: Mapping[str, tuple[str, Callable[[str], None]]] = {
    "issuance_ceiling_factor": ("ISSUANCE_CEILING_FACTOR", _issuance_factor),
    "issuance_ceiling_by_currency": ("ISSUANCE_CEILING_BY_CURRENCY", _issuance_by_currency),
    "issuance_alert_fraction": ("ISSUANCE_ALERT_FRACTION", _issuance_fraction),
}

#: Context key -> environment variable for the service settings taken from context as given.
SERVICE_SETTING_VARIABLES: dict[str, str] = {
    **{name: variable for name, (variable, _check) in ISSUANCE_SETTINGS.items()},
    **{
        name: variable
        for variable, (name, _parse) in ENVIRONMENT.items()
        if variable not in STACK_OWNED_VARIABLES
    },
}

#: Variables only some functions read, and those functions (the others do not get them, so a
#: change to them redeploys only these). Issue and activate are the two that load money.
FUNCTION_SCOPED_VARIABLES: Mapping[str, frozenset[str]] = {
    variable: frozenset({"issue", "activate"}) for variable, _check in ISSUANCE_SETTINGS.values()
}

#: API Gateway caps a REST API body at 10 MB; WAF can inspect at most 64 KiB of it, so that is
#: the largest limit the edge can enforce.
WAF_MAX_INSPECTABLE_BODY = 64 * 1024

_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_SCHEDULE = re.compile(r"^(cron|rate)\([^()]+\)$")
_LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})


@dataclass(frozen=True)
class StackConfig:
    """Everything the constructs need; defaults are the documented ones."""

    stack_name: str = "GiftCardProvider"
    #: The preset applied (``-c env=dev|prod``, infra/environments.py); empty: none.
    environment: str = ""
    #: Account and region to pin the stack to (both or neither); empty: the CLI's credentials.
    account: str = ""
    region: str = ""
    #: Refuse to synthesize without ``account`` and ``region`` (the prod preset).
    require_account: bool = False
    #: Refuse to synthesize without an alarm subscriber (the prod preset): alarms nobody gets are
    #: no alarms.
    require_alarm_subscriber: bool = False
    #: CloudFormation refuses to delete the stack until this is turned off (the dev preset does).
    termination_protection: bool = True
    #: Manage the region's API Gateway CloudWatch role (AWS::ApiGateway::Account), an account-wide
    #: singleton: exactly one stack per account and region may (docs/deploy.md, "Environments").
    api_gateway_cloudwatch_role: bool = True
    stage_name: str = "v1"
    #: Empty: CloudFormation generates the table name (no clash with a retained old table).
    table_name: str = ""
    api_key_header: str = "Authorization"
    authorizer_cache_seconds: int = 300
    throttle_rate: int = 50
    throttle_burst: int = 100
    #: The operator API's own stage throttling (people and scripts, not checkout traffic).
    operator_throttle_rate: int = 10
    operator_throttle_burst: int = 20
    #: Operator requests refused (4xx) in 5 minutes that raise an alarm.
    operator_refusal_alarm_threshold: int = 20
    #: Requests per source IP per 5 minutes before WAF answers 429.
    waf_rate_limit: int = 15000
    waf_common_rules: bool = True
    newstore_ip_allowlist: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024
    alarm_email: str = ""
    latency_p99_alarm_ms: int = 2000
    pin_lockout_alarm_threshold: int = 10
    #: PIN lockouts in one hour that alarm even when no 5-minute spike does (slow guessing).
    pin_lockout_hourly_alarm_threshold: int = 20
    log_retention_days: int = 90
    log_level: str = "INFO"
    tracing: bool = True
    lambda_memory_mb: int = 512
    lambda_timeout_seconds: int = 10
    reservation_expiry_rate_minutes: int = 15
    reservation_expiry_timeout_seconds: int = 60
    #: The nightly audit (infra/audit.py): an EventBridge schedule expression, in UTC.
    audit_schedule: str = "cron(0 3 * * ? *)"
    #: Segments of its parallel scan (threads in one invocation).
    audit_segments: int = 4
    #: 1769 MB is one full vCPU: the audit is CPU-bound once DynamoDB pages arrive.
    audit_memory_mb: int = 1769
    audit_timeout_seconds: int = 900
    # Optional production extras, each off by default (docs/deploy.md, "Optional extras") ------
    #: Custom domain (regional, TLS 1.2) in front of the stage; the execute-api URL is disabled.
    domain_name: str = ""
    #: An existing ACM certificate for domain_name (same region); empty: the stack requests one,
    #: validated by DNS (in hosted_zone_id's zone if given, else by hand while the deploy waits).
    certificate_arn: str = ""
    #: Route 53 zone for domain_name: the stack adds the alias record (and the certificate's
    #: validation record); empty: point the name at the ApiDomainTarget output yourself.
    hosted_zone_id: str = ""
    hosted_zone_name: str = ""
    #: AWS Backup plan for the table: daily backups kept backup_retention_days.
    backup: bool = False
    backup_retention_days: int = 35
    #: WAF request logs to CloudWatch Logs (aws-waf-logs-<stack>), the API key header redacted.
    waf_logging: bool = False
    #: Powertools Tracer subsegments on every DynamoDB and Secrets Manager call (needs tracing).
    trace_aws_calls: bool = False
    #: CloudWatch dashboard: requests, errors by code, latency percentiles, lockouts, retries
    #: exhausted, throttles.
    dashboard: bool = False
    #: Synthetic canary: balance of the canary card every canary_rate_minutes, alarmed.
    canary: bool = False
    canary_rate_minutes: int = 5
    functions_dir: Path = PROJECT_ROOT / "functions"
    layer_asset_dir: Path = PROJECT_ROOT / "build" / "layer"
    #: Environment variables for the service settings given in context (validated).
    service_environment: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if bool(self.account) != bool(self.region):
            raise ValueError("account and region are given together (or neither)")
        if self.account and not re.fullmatch(r"\d{12}", self.account):
            raise ValueError(f"account must be a 12-digit AWS account id: {self.account!r}")
        if self.require_account and not self.account:
            raise ValueError(
                f"environment {self.environment or '(none)'} pins its account and region: give "
                "-c account=<12 digits> -c region=<region> (or fill them in cdk.json)"
            )
        if self.trace_aws_calls and not self.tracing:
            raise ValueError("trace_aws_calls needs tracing (X-Ray) on")
        if bool(self.hosted_zone_id) != bool(self.hosted_zone_name):
            raise ValueError("hosted_zone_id and hosted_zone_name are given together")
        if (self.certificate_arn or self.hosted_zone_id) and not self.domain_name:
            raise ValueError("certificate_arn and hosted_zone_id need domain_name")
        if self.domain_name and not re.fullmatch(
            r"(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", self.domain_name
        ):
            raise ValueError(f"domain_name is not a lower-case DNS name: {self.domain_name!r}")
        if not 1 <= self.backup_retention_days <= 36500:
            raise ValueError("backup_retention_days must be within 1..36500")
        if not 1 <= self.canary_rate_minutes <= 60:
            raise ValueError("canary_rate_minutes must be within 1..60")
        if self.canary and self.newstore_ip_allowlist:
            raise ValueError(
                "canary cannot pass newstore_ip_allowlist: the canary's Lambda has no fixed "
                "address, so the WAF would answer it 403; switch one of them off"
            )
        if self.require_alarm_subscriber and not self.alarm_email:
            raise ValueError(
                f"environment {self.environment or '(none)'} needs someone to receive its alarms: "
                "give -c alarm_email=<address> (or fill it in cdk.json)"
            )
        if not _HEADER_NAME.match(self.api_key_header):
            raise ValueError(f"api_key_header is not a header name: {self.api_key_header!r}")
        if self.log_level not in _LOG_LEVELS:
            raise ValueError(f"log_level must be one of {sorted(_LOG_LEVELS)}")
        if not 0 <= self.authorizer_cache_seconds <= 3600:
            raise ValueError("authorizer_cache_seconds must be within 0..3600 (API Gateway limit)")
        if not 1024 <= self.max_body_bytes <= WAF_MAX_INSPECTABLE_BODY:
            raise ValueError(
                f"max_body_bytes must be within 1024..{WAF_MAX_INSPECTABLE_BODY}: "
                "WAF cannot inspect more of a body than 64 KiB"
            )
        if not 10 <= self.waf_rate_limit <= 2_000_000_000:
            raise ValueError("waf_rate_limit must be within 10..2000000000 (AWS WAF limits)")
        if self.throttle_rate <= 0 or self.throttle_burst <= 0:
            raise ValueError("throttle_rate and throttle_burst must be positive")
        if self.operator_throttle_rate <= 0 or self.operator_throttle_burst <= 0:
            raise ValueError("operator_throttle_rate and operator_throttle_burst must be positive")
        if not 128 <= self.lambda_memory_mb <= 10240:
            raise ValueError("lambda_memory_mb must be within 128..10240")
        if not 1 <= self.lambda_timeout_seconds <= 29:
            raise ValueError("lambda_timeout_seconds must be within 1..29 (API Gateway timeout)")
        if not 1 <= self.reservation_expiry_timeout_seconds <= 900:
            raise ValueError("reservation_expiry_timeout_seconds must be within 1..900")
        if self.pin_lockout_alarm_threshold < 1 or self.pin_lockout_hourly_alarm_threshold < 1:
            raise ValueError("PIN lockout alarm thresholds must be at least 1")
        if not _SCHEDULE.match(self.audit_schedule):
            raise ValueError(
                "audit_schedule must be an EventBridge schedule expression: cron(...) or rate(...)"
            )
        if not 1 <= self.audit_segments <= 64:
            raise ValueError("audit_segments must be within 1..64")
        if not 128 <= self.audit_memory_mb <= 10240:
            raise ValueError("audit_memory_mb must be within 128..10240")
        if not 60 <= self.audit_timeout_seconds <= 900:
            raise ValueError("audit_timeout_seconds must be within 60..900 (Lambda's maximum)")
        if self.reservation_expiry_rate_minutes < 1:
            raise ValueError("reservation_expiry_rate_minutes must be at least 1")
        if self.log_retention_days not in RETENTION_DAYS:
            raise ValueError(
                f"log_retention_days must be one of {sorted(RETENTION_DAYS)} "
                "(CloudWatch Logs retention values)"
            )
        for address in self.newstore_ip_allowlist:
            ipaddress.ip_network(address, strict=False)  # raises ValueError on a bad entry
        for variable, check in ISSUANCE_SETTINGS.values():
            if variable in self.service_environment and variable not in ENVIRONMENT:
                try:
                    check(self.service_environment[variable])
                except (ArithmeticError, ValueError) as exc:
                    raise ValueError(f"{variable}: {exc}") from exc
        # Same parser as the functions' cold start: a bad value fails the synth, not production.
        settings_from(
            {
                **self.service_environment,
                "API_KEY_HEADER": self.api_key_header,
                "MAX_BODY_BYTES": str(self.max_body_bytes),
            }
        )

    @property
    def ipv4_allowlist(self) -> list[str]:
        return [_cidr(a) for a in self.newstore_ip_allowlist if _cidr(a).count(".") == 3]

    @property
    def ipv6_allowlist(self) -> list[str]:
        return [_cidr(a) for a in self.newstore_ip_allowlist if ":" in _cidr(a)]


#: CloudWatch Logs accepts only these retention periods.
RETENTION_DAYS: Mapping[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def _cidr(address: str) -> str:
    return str(ipaddress.ip_network(address.strip(), strict=False))


def _as_bool(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"context {key}: not a boolean: {raw!r}")


def _as_int(key: str, raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"context {key}: not an integer: {raw!r}")
    try:
        return int(str(raw).strip())
    except ValueError as exc:
        raise ValueError(f"context {key}: not an integer: {raw!r}") from exc


def _as_list(raw: Any) -> tuple[str, ...]:
    """A JSON list, a JSON-encoded list (``-c key='["a","b"]'``) or a comma-separated string."""
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            raw = json.loads(text)
        else:
            return tuple(part.strip() for part in text.split(",") if part.strip())
    if not isinstance(raw, list | tuple):
        raise ValueError(f"not a list: {raw!r}")
    return tuple(str(part).strip() for part in raw if str(part).strip())


def setting_to_environment(raw: Any) -> str:
    """A context value as the string the settings parser reads (see giftcard.settings)."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, list | tuple):
        return ",".join(str(part) for part in raw)
    if isinstance(raw, dict):
        return ",".join(f"{code}={amount}" for code, amount in raw.items())
    return str(raw)


def config_from_context(context: Mapping[str, Any]) -> StackConfig:
    """Build the configuration from a mapping of context values (missing keys: defaults)."""
    defaults = StackConfig.__dataclass_fields__
    values: dict[str, Any] = {}
    for key, spec in defaults.items():
        if key == "service_environment" or key not in context or context[key] is None:
            continue
        raw = context[key]
        if spec.type in ("bool",):
            values[key] = _as_bool(key, raw)
        elif spec.type in ("int",):
            values[key] = _as_int(key, raw)
        elif spec.type == "tuple[str, ...]":
            values[key] = _as_list(raw)
        elif spec.type == "Path":
            path = Path(str(raw))
            values[key] = path if path.is_absolute() else PROJECT_ROOT / path
        else:
            values[key] = str(raw).strip()
    values["service_environment"] = {
        variable: setting_to_environment(context[key])
        for key, variable in SERVICE_SETTING_VARIABLES.items()
        if context.get(key) not in (None, "")
    }
    return StackConfig(**values)


def context_keys() -> list[str]:
    """Every context key the stack reads (stack settings, then service settings)."""
    stack_keys = [k for k in StackConfig.__dataclass_fields__ if k != "service_environment"]
    return stack_keys + list(SERVICE_SETTING_VARIABLES)
