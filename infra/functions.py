"""One Lambda per route (all running ``functions/route``, told which route by GIFTCARD_ROUTE) plus
the authorizer and the scheduled jobs, each with its own role holding only the grants it needs
(``giftcard.grants``, named per route in ``giftcard.routes``)."""

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

from giftcard import grants, routes
from giftcard.grants import Access
from giftcard.routes import OPERATOR, ROUTE_VARIABLE, ROUTES, WEBHOOKS, Route
from infra.config import FUNCTION_SCOPED_VARIABLES, RETENTION_DAYS, StackConfig
from infra.layer import ARCHITECTURE, RUNTIME
from infra.nag import acknowledge
from infra.secrets import Secrets
from infra.storage import Storage

# What each function may touch is declared in ``giftcard.grants`` (the route registry gives every
# route its ``Access``); the names below are re-exported for the template tests.
BALANCE_ACTIONS = grants.BALANCE_ACTIONS
TRANSACT_ACTIONS = grants.TRANSACT_ACTIONS
WRITE_ACTIONS = grants.WRITE_ACTIONS

#: The folder under functions/ every route's Lambda runs (GIFTCARD_ROUTE picks the route).
ROUTE_ASSET = "route"


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda: its name, its code folder under ``functions/`` and what it may touch."""

    name: str
    description: str
    access: Access
    route: Route | None = None  #: the route it serves (None: the authorizer, scheduled jobs)

    @property
    def asset(self) -> str:
        return ROUTE_ASSET if self.route is not None else self.name

    @property
    def table_actions(self) -> tuple[str, ...]:
        return self.access.table_actions


AUTHORIZER = routes.AUTHORIZER
RESERVATION_EXPIRY = "reservation_expiry"

FUNCTIONS: tuple[FunctionSpec, ...] = (
    *(FunctionSpec(route.function, route.summary, route.access, route) for route in ROUTES),
    FunctionSpec(
        RESERVATION_EXPIRY,
        "Release reservations past their expiry (scheduled)",
        grants.RESERVATION_EXPIRY,
    ),
    FunctionSpec(AUTHORIZER, "API key authorizer (REQUEST)", grants.AUTHORIZER),
)
if {spec.name for spec in FUNCTIONS if spec.route is None} != {AUTHORIZER, *routes.SCHEDULED}:
    raise RuntimeError("infra.functions.FUNCTIONS and giftcard.routes disagree")

#: Function -> every attribute its role may write (PutItem/UpdateItem, alone or in a transaction).
WRITE_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    spec.name: spec.access.writes for spec in FUNCTIONS if spec.access.writes
}


def write_attributes(name: str) -> list[str]:
    """The function's writable attributes, sorted and without repeats (the policy's list)."""
    return sorted(set(WRITE_ATTRIBUTES.get(name, ())))


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
        source = config.functions_dir / spec.asset
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
            environment={
                **environment,
                **({ROUTE_VARIABLE: spec.name} if spec.route is not None else {}),
            },
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
            access = spec.access
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
            if access.query_open_reservations:
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        actions=["dynamodb:Query"], resources=[storage.open_reservations_index_arn]
                    )
                )
            if access.query_customers:
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        actions=["dynamodb:Query"], resources=[storage.customers_index_arn]
                    )
                )
            if access.reads_key_material:
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        actions=["secretsmanager:GetSecretValue"],
                        resources=[secrets.key_material.secret_arn],
                    )
                )
            if access.reads_api_keys:
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        actions=["secretsmanager:GetSecretValue"],
                        resources=[secrets.api_keys.secret_arn],
                    )
                )
            self.by_name[spec.name] = construct
        secrets.allow_key_material_readers(
            f.role for f in self.by_name.values() if f.spec.access.reads_key_material
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
        """NewStore's routes (the API-key API)."""
        return [f for f in self.by_name.values() if f.spec.route and f.spec.route.api == WEBHOOKS]

    @property
    def operators(self) -> list[WebhookFunction]:
        """The back office's routes (the AWS_IAM API)."""
        return [f for f in self.by_name.values() if f.spec.route and f.spec.route.api == OPERATOR]

    @property
    def authorizer(self) -> lambda_.Function:
        return self.by_name[AUTHORIZER].function

    @property
    def reservation_expiry(self) -> lambda_.Function:
        return self.by_name[RESERVATION_EXPIRY].function


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
