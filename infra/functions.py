"""One Lambda per webhook, each with its own role holding only the grants it needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from giftcard import routes
from giftcard import table as schema
from giftcard.routes import ROUTES, Route
from infra.config import FUNCTION_SCOPED_VARIABLES, RETENTION_DAYS, StackConfig
from infra.layer import ARCHITECTURE, RUNTIME
from infra.nag import acknowledge
from infra.secrets import Secrets
from infra.storage import Storage

#: Balance: one GetItem, or a PIN guess charged with one conditional UpdateItem (which the
#: right PIN's reset and a lock's confirmation are too).
BALANCE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
#: The actions that change items: their statement carries the attribute condition below.
WRITE_ACTIONS = frozenset({"dynamodb:PutItem", "dynamodb:UpdateItem"})
#: Mutations are one TransactWriteItems: IAM checks each item's own action (Put, Update,
#: ConditionCheck), so the transaction needs exactly these. BatchGetItem checks a generated
#: number against existing cards; GetItem replays an idempotency record.
TRANSACT_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:ConditionCheckItem",
)


# Which attributes each role may write ----------------------------------------------------------
#
# IAM's `dynamodb:Attributes` condition key holds the top-level attribute names a request
# specifies; with `ForAllValues:StringEquals` a PutItem or UpdateItem is allowed only if every one
# of them is in the list, and the list must name the table's key attributes (PK, SK) because
# every request specifies them (AWS, DynamoDB Developer Guide, "Using IAM policy conditions for
# fine-grained access control", and IAM User Guide, "Amazon DynamoDB: Allows access to specific
# attributes"). "Attribute conditions are evaluated only on attributes specified in the request"
# (same page), so an attribute a request only names in its ConditionExpression (pin_hash, in the
# PIN charge) is listed too. Inside TransactWriteItems each Put/Update is authorized as the
# PutItem/UpdateItem it stands for (DynamoDB Developer Guide, "Using IAM with DynamoDB
# transactions"), so the same statement governs the transaction's items.
#
# No `dynamodb:ReturnValues`/`dynamodb:Select` condition: those keep a write-only principal from
# reading attributes back, but every role here already reads whole items with GetItem, and the
# PIN charge needs ReturnValues ALL_NEW.
#
# The lists below are the one source: tests/infra/test_write_attributes.py runs the repository's
# writes for each function and checks that what they name is exactly its list.

KEY = ("PK", "SK")
#: An idempotency record (repository.record_item).
RECORD = ("type", "status", "body", "params", "created_at", "expires_at", schema.TTL_ATTRIBUTE)
#: A ledger entry (repository.entry_item).
ENTRY = (
    "type",
    "kind",
    "amount",
    "currency",
    "balance_before",
    "balance_after",
    "held_before",
    "held_after",
    "created_at",
    "record",
    "request_id",
    "key_id",
    "store_id",
    "instrument_id",
)
#: A guess charged, a lock confirmed, a window reset (charge_pin_guess, confirm_pin_lock,
#: settle_pin, CardUpdate.reset_pin); pin_hash is only named in the charge's condition.
PIN = ("pin_failures", "pin_locked_until", "pin_lockouts", "pin_hard_locked", "pin_charge")
PIN_CONDITION = ("pin_hash",)
#: Money moved on a card as read (a CardUpdate conditioned on its version).
CARD_MONEY = ("balance", "held", "version")
#: A whole new card (repository.card_item with a sealed customer).
CARD_CREATE = (
    "type",
    "state",
    "last4",
    "currency",
    "balance",
    "held",
    "version",
    "pin_hash",
    *PIN,
    "created_at",
    "activated_at",
    "deactivated_at",
    "expires_at",
    "source",
    "customer",
)
#: Activation: an inactive (or, if allowed, unknown) card gets its state, amount and customer.
CARD_ACTIVATE = (
    "state",
    "currency",
    "balance",
    "held",
    "version",
    "activated_at",
    "expires_at",
    "customer",
    "type",
    "last4",
    "created_at",
    "source",
    "pin_failures",
    "pin_locked_until",
)
CARD_DEACTIVATE = ("state", "balance", "deactivated_at", "version")
#: A financial instrument (repository.instrument_item), with its sparse index keys.
INSTRUMENT = (
    "type",
    "card",
    "currency",
    "created_at",
    "account_id",
    "last4",
    "authorized",
    "captured",
    "refunded",
    "released",
    "version",
    "expires_at",
    schema.OPEN_RESERVATIONS_PK,
    schema.OPEN_RESERVATIONS_SK,
)
#: The daily issuance counter per currency (issue and activate load money onto cards).
ISSUANCE = ("type", "issued", "updated_at", schema.TTL_ATTRIBUTE)

_REDEMPTION = (*KEY, *RECORD, *ENTRY, *CARD_MONEY, *INSTRUMENT)

#: Function -> every attribute its role may write (PutItem/UpdateItem, alone or in a transaction).
WRITE_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "balance": (*KEY, *PIN, *PIN_CONDITION),
    "issue": (*KEY, *RECORD, *CARD_CREATE, *ENTRY, *ISSUANCE),
    "activate": (*KEY, *RECORD, *CARD_ACTIVATE, *ENTRY, *ISSUANCE),
    "deactivate": (*KEY, *RECORD, *CARD_DEACTIVATE, *PIN, *PIN_CONDITION, *ENTRY),
    "instrument_create": (*_REDEMPTION, *PIN, *PIN_CONDITION),
    "instrument_capture": _REDEMPTION,
    "instrument_refund": _REDEMPTION,
    "instrument_revoke": _REDEMPTION,
    "reservation_expiry": _REDEMPTION,
}


def write_attributes(name: str) -> list[str]:
    """The function's writable attributes, sorted and without repeats (the policy's list)."""
    return sorted(set(WRITE_ATTRIBUTES.get(name, ())))


@dataclass(frozen=True)
class FunctionSpec:
    """A function folder under ``functions/`` and what it may touch."""

    name: str
    description: str
    table_actions: tuple[str, ...] = ()
    query_open_reservations: bool = False
    reads_key_material: bool = True
    reads_api_keys: bool = False

    @property
    def route(self) -> Route | None:
        """Its route in ``giftcard.routes`` (the table the local gateway and OpenAPI use too)."""
        return ROUTES_BY_FUNCTION.get(self.name)


ROUTES_BY_FUNCTION: Mapping[str, Route] = {route.function: route for route in ROUTES}

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("balance", "Return a card's spendable balance", BALANCE_ACTIONS),
    FunctionSpec("issue", "Issue a new gift card", TRANSACT_ACTIONS),
    FunctionSpec("activate", "Activate a card from stock", TRANSACT_ACTIONS),
    FunctionSpec("deactivate", "Deactivate a card, voiding its balance", TRANSACT_ACTIONS),
    FunctionSpec("instrument_create", "Reserve funds on a card", TRANSACT_ACTIONS),
    FunctionSpec("instrument_capture", "Capture reserved funds", TRANSACT_ACTIONS),
    FunctionSpec("instrument_refund", "Refund captured funds", TRANSACT_ACTIONS),
    FunctionSpec("instrument_revoke", "Release reserved funds", TRANSACT_ACTIONS),
    FunctionSpec(
        "reservation_expiry",
        "Release reservations past their expiry (scheduled)",
        TRANSACT_ACTIONS,
        query_open_reservations=True,
    ),
    FunctionSpec(
        "authorizer",
        "API key authorizer (REQUEST)",
        reads_key_material=False,
        reads_api_keys=True,
    ),
)

AUTHORIZER = routes.AUTHORIZER
RESERVATION_EXPIRY = "reservation_expiry"

# Every route needs a function spec (its grants), and every spec without a route must be one of
# the functions the route table declares route-less: the two lists cannot drift apart silently.
if {spec.name for spec in FUNCTIONS if set(spec.table_actions) & WRITE_ACTIONS} != set(
    WRITE_ATTRIBUTES
):
    raise RuntimeError("every function that writes needs its WRITE_ATTRIBUTES entry")
_unrouted = {spec.name for spec in FUNCTIONS if spec.route is None}
if set(ROUTES_BY_FUNCTION) - {spec.name for spec in FUNCTIONS} or _unrouted != {
    routes.AUTHORIZER,
    *routes.SCHEDULED,
}:
    raise RuntimeError("infra.functions.FUNCTIONS and giftcard.routes disagree")


def log_group(scope: Construct, construct_id: str, days: int) -> logs.LogGroup:
    """A log group with retention; kept after `cdk destroy` (audit trail) until it expires."""
    return logs.LogGroup(
        scope, construct_id, retention=RETENTION_DAYS[days], removal_policy=RemovalPolicy.RETAIN
    )


class WebhookFunction(Construct):
    """A function from ``<functions_dir>/<name>/`` (only that folder is its asset)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        config: StackConfig,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        source = config.functions_dir / spec.name
        if not (source / "handler.py").is_file():
            raise FileNotFoundError(f"{source}/handler.py is missing (function {spec.name!r})")
        self.log_group = log_group(self, "LogGroup", config.log_retention_days)
        # Own role, no managed policy: logs, tracing and data grants are added explicitly.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"gift card provider: {spec.name} function",
        )
        self.log_group.grant_write(self.role)
        timeout = (
            config.reservation_expiry_timeout_seconds
            if spec.name == RESERVATION_EXPIRY
            else config.lambda_timeout_seconds
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=f"gift card provider: {spec.description}",
            code=lambda_.Code.from_asset(str(source), exclude=["**/__pycache__", "*.pyc"]),
            handler="handler.lambda_handler",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=config.lambda_memory_mb,
            timeout=Duration.seconds(timeout),
            role=self.role,
            log_group=self.log_group,
            layers=[layer],
            tracing=lambda_.Tracing.ACTIVE if config.tracing else lambda_.Tracing.DISABLED,
            environment=dict(environment),
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Pinned to python3.13: the layer is built and tested for 3.13 "
            "(tools/build_layer.py); move runtime and layer together.",
        )
        if config.tracing:
            acknowledge(
                self.role,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level "
                "permissions; CDK adds them with Resource * when tracing is active.",
            )


class Functions(Construct):
    """All functions of the service, keyed by name, with their data grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        storage: Storage,
        secrets: Secrets,
        layer: lambda_.ILayerVersion,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {
            "TABLE_NAME": storage.table.table_name,
            "KEYS_SECRET_ID": secrets.key_material.secret_arn,
            "API_KEYS_SECRET_ID": secrets.api_keys.secret_arn,
            "API_KEY_HEADER": config.api_key_header,
            "MAX_BODY_BYTES": str(config.max_body_bytes),
            **config.service_environment,
            "POWERTOOLS_SERVICE_NAME": "giftcard",
            # A dimension of every custom metric (giftcard.observability): one per deployment.
            "STACK_NAME": config.stack_name,
            "POWERTOOLS_METRICS_NAMESPACE": "GiftCards",
            "POWERTOOLS_LOG_LEVEL": config.log_level,
            "POWERTOOLS_TRACE_DISABLED": "false" if config.tracing else "true",
            # Powertools Tracer on the AWS SDK calls (giftcard.aws), only when asked for.
            **({"TRACE_AWS_CALLS": "true"} if config.trace_aws_calls else {}),
        }
        self.by_name: dict[str, WebhookFunction] = {}
        for spec in FUNCTIONS:
            construct = WebhookFunction(
                self,
                _pascal(spec.name),
                spec=spec,
                config=config,
                layer=layer,
                environment={
                    variable: value
                    for variable, value in environment.items()
                    if spec.name in FUNCTION_SCOPED_VARIABLES.get(variable, {spec.name})
                },
            )
            role = construct.role
            reads = [a for a in spec.table_actions if a not in WRITE_ACTIONS]
            writes = [a for a in spec.table_actions if a in WRITE_ACTIONS]
            if reads:
                role.add_to_principal_policy(
                    iam.PolicyStatement(actions=reads, resources=[storage.table.table_arn])
                )
            if writes:
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        actions=writes,
                        resources=[storage.table.table_arn],
                        conditions={
                            "ForAllValues:StringEquals": {
                                "dynamodb:Attributes": write_attributes(spec.name)
                            }
                        },
                    )
                )
            if spec.query_open_reservations:
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        actions=["dynamodb:Query"], resources=[storage.open_reservations_index_arn]
                    )
                )
            if spec.reads_key_material:
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        actions=["secretsmanager:GetSecretValue"],
                        resources=[secrets.key_material.secret_arn],
                    )
                )
            if spec.reads_api_keys:
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        actions=["secretsmanager:GetSecretValue"],
                        resources=[secrets.api_keys.secret_arn],
                    )
                )
            self.by_name[spec.name] = construct
        secrets.allow_key_material_readers(
            f.role for f in self.by_name.values() if f.spec.reads_key_material
        )

        # The expiry job releases reservations nobody captured or revoked; a run that fails is
        # simply repeated by the next one (the job is idempotent), so no retries are stacked up:
        # none by EventBridge here, none by Lambda's async invoke (infra/async_failures.py).
        self.schedule = events.Rule(
            self,
            "ReservationExpirySchedule",
            description="gift card provider: release expired reservations",
            schedule=events.Schedule.rate(Duration.minutes(config.reservation_expiry_rate_minutes)),
            targets=[targets.LambdaFunction(self.reservation_expiry, retry_attempts=0)],
        )

    @property
    def webhooks(self) -> list[WebhookFunction]:
        return [f for f in self.by_name.values() if f.spec.route is not None]

    @property
    def authorizer(self) -> lambda_.Function:
        return self.by_name[AUTHORIZER].function

    @property
    def reservation_expiry(self) -> lambda_.Function:
        return self.by_name[RESERVATION_EXPIRY].function


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
