"""The nightly audit: its function, schedule, grants, alarms and the liability dashboard.

The job (``functions/audit/handler.py`` -> ``giftcard.audit_job.run_audit``) scans the whole
table, keeps one item per audit in the ``AUDIT`` partition and publishes its figures with
PutMetricData. Its role may do exactly that: Scan the table, Put items whose partition key is
``AUDIT`` and whose attributes are the audit's, PutMetricData in the service's namespace; it
cannot read the key material and cannot write a card.

Operator functions (wired by the operator API) get what they need from here:
``grant_run(fn)`` (start the job asynchronously; sets ``AUDIT_FUNCTION_NAME``) and
``grant_read(fn)`` (Query the ``AUDIT`` partition, for the reports).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from giftcard import metric_names
from giftcard.grants import KEY
from giftcard.items import AUDIT_PK
from infra.config import StackConfig
from infra.functions import log_group
from infra.layer import ARCHITECTURE, RUNTIME
from infra.nag import acknowledge
from infra.storage import Storage

#: Custom metrics: the namespace and dimension the service publishes with.
METRICS_NAMESPACE = "GiftCards"
SERVICE = "giftcard"
FUNCTION_FOLDER = "audit"
#: The attributes of a kept audit (``giftcard.items.audit_item``): all the job may write.
AUDIT_ATTRIBUTES = (
    *KEY,
    "type",
    "audit_id",
    "as_of",
    "finished_at",
    "cards_checked",
    "mismatches",
    "body",
)
ONE_DAY = Duration.days(1)


def audit_metric(name: str, stack_name: str, statistic: str = "Maximum") -> cloudwatch.Metric:
    """An audit metric of this deployment (the ``stack`` dimension keeps dev and prod apart)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE, "stack": stack_name},
        statistic=statistic,
        period=ONE_DAY,
    )


class AuditJob(Construct):
    """The scheduled audit function and what watches it.

    ``function``, ``role``, ``schedule``, ``mismatch_alarm``, ``errors_alarm``, ``dashboard``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        storage: Storage,
        layer: lambda_.ILayerVersion,
        alarm_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        source = config.functions_dir / FUNCTION_FOLDER
        if not (source / "handler.py").is_file():
            raise FileNotFoundError(f"{source}/handler.py is missing (the audit function)")
        self.log_group = log_group(self, "LogGroup", config.log_retention_days)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="gift card provider: audit function",
        )
        self.log_group.grant_write(self.role)
        table = storage.table
        self.table_arn = table.table_arn
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:Scan"], resources=[table.table_arn])
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:PutItem"],
                resources=[table.table_arn],
                conditions={
                    "ForAllValues:StringEquals": {
                        "dynamodb:LeadingKeys": [AUDIT_PK],
                        "dynamodb:Attributes": sorted(AUDIT_ATTRIBUTES),
                    }
                },
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
            )
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData supports no resource-level permissions; the statement is "
            "limited to the service's namespace by condition (and X-Ray's, when tracing is on).",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="gift card provider: nightly audit (reconciliation, liability, dormancy)",
            code=lambda_.Code.from_asset(str(source), exclude=["**/__pycache__", "*.pyc"]),
            handler="handler.lambda_handler",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=config.audit_memory_mb,
            timeout=Duration.seconds(config.audit_timeout_seconds),
            role=self.role,
            log_group=self.log_group,
            layers=[layer],
            tracing=lambda_.Tracing.ACTIVE if config.tracing else lambda_.Tracing.DISABLED,
            # A failed audit is repeated once (a fresh audit: nothing partial was kept); the next
            # night runs anyway.
            retry_attempts=1,
            environment={
                "TABLE_NAME": table.table_name,
                "AUDIT_SEGMENTS": str(config.audit_segments),
                "POWERTOOLS_SERVICE_NAME": SERVICE,
                "STACK_NAME": Stack.of(self).stack_name,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": config.log_level,
                "POWERTOOLS_TRACE_DISABLED": "false" if config.tracing else "true",
            },
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Pinned to python3.13: the layer is built and tested for 3.13 "
            "(tools/build_layer.py); move runtime and layer together.",
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="gift card provider: nightly audit",
            schedule=events.Schedule.expression(config.audit_schedule),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )

        notify = cw_actions.SnsAction(alarm_topic)
        mismatches = audit_metric(metric_names.AUDIT_MISMATCHES, Stack.of(self).stack_name)
        self.mismatch_alarm = cloudwatch.Alarm(
            self,
            "MismatchAlarm",
            metric=mismatches,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=(
                "The audit found cards whose balance or held amount does not match their ledger "
                "(a bug or tampering): see the latest audit's mismatches"
            ),
        )
        self.errors_alarm = cloudwatch.Alarm(
            self,
            "ErrorsAlarm",
            metric=self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="The audit failed (throttled past its retries, or timed out)",
        )
        for alarm in (self.mismatch_alarm, self.errors_alarm):
            alarm.add_alarm_action(notify)
            alarm.add_ok_action(notify)

        # Currencies are not known at synth: a search expression graphs one line per currency.
        outstanding = cloudwatch.MathExpression(
            expression=(
                f"SEARCH('{{{METRICS_NAMESPACE},currency,service,stack}} "
                f'MetricName="{metric_names.AUDIT_OUTSTANDING}" service="{SERVICE}" '
                f'stack="{Stack.of(self).stack_name}"\', '
                "'Maximum', 86400)"
            ),
            using_metrics={},
            label="",
            period=ONE_DAY,
        )
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(90))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Liability per currency (outstanding, major units, nightly audit)",
                left=[outstanding],
                width=24,
                height=8,
            )
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Cards checked by the audit",
                left=[audit_metric(metric_names.AUDIT_CARDS_CHECKED, Stack.of(self).stack_name)],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Audit mismatches (any is a bug or tampering)",
                left=[mismatches],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(
                title="Audit alarms", alarms=[self.mismatch_alarm, self.errors_alarm], width=24
            ),
        )

    def grant_run(self, function: lambda_.Function) -> None:
        """Let an operator function start the audit job (``POST /admin/audit/run``)."""
        # The function itself only (grant_invoke adds its versions, ARN:*, which nothing uses).
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[self.function.function_arn]
            )
        )
        function.add_environment("AUDIT_FUNCTION_NAME", self.function.function_name)

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """Let a function read kept audits (the reports): Query on the ``AUDIT`` partition only."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[self.table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [AUDIT_PK]}},
            )
        )
