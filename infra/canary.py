"""Optional synthetic canary (``canary``): a small Lambda (``canary/handler.py``, no layer) asks
the public API for the canary card's balance every ``canary_rate_minutes``, with the API key
NewStore uses; ``CanaryFailed`` alarms when it fails twice in a row or stops running.

The canary card is a real card (issue one, docs/deploy.md "Canary"); its number and PIN live
in the ``CanaryCardSecretArn`` secret, which the stack creates empty: until someone fills it,
every run fails and the alarm says so.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra import PROJECT_ROOT
from infra.async_failures import AsyncFailures
from infra.config import StackConfig
from infra.functions import log_group
from infra.layer import ARCHITECTURE, RUNTIME
from infra.monitoring import Monitoring
from infra.nag import acknowledge
from infra.secrets import Secrets

CODE_DIR = PROJECT_ROOT / "canary"


class Canary(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        api_url: str,
        secrets: Secrets,
        monitoring: Monitoring,
    ) -> None:
        super().__init__(scope, construct_id)
        self.card = secretsmanager.Secret(
            self,
            "Card",
            description="Gift card provider: the canary card ({number, pin}) the canary asks for",
            # A placeholder, not a secret: the operator puts the canary card in after deploying.
            secret_string_value=SecretValue.unsafe_plain_text('{"number": "", "pin": ""}'),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.card,
            "AwsSolutions-SMG4",
            "The canary card is a card like any other: its number and PIN do not expire and are "
            "set by an operator (docs/deploy.md, 'Canary'); nothing could rotate them.",
        )
        self.log_group = log_group(self, "LogGroup", config.log_retention_days)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="gift card provider: canary",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description="gift card provider: canary (balance of the canary card)",
            code=lambda_.Code.from_asset(str(CODE_DIR), exclude=["**/__pycache__", "*.pyc"]),
            handler="handler.lambda_handler",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=256,
            timeout=Duration.seconds(30),
            role=self.role,
            log_group=self.log_group,
            environment={
                "API_URL": api_url,
                "API_KEY_HEADER": config.api_key_header,
                "API_KEYS_SECRET_ID": secrets.api_keys.secret_arn,
                "CANARY_CARD_SECRET_ID": self.card.secret_arn,
                "TIMEOUT": "10",
            },
        )
        for secret in (secrets.api_keys, self.card):
            self.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn]
                )
            )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Pinned to python3.13 like the service's functions (infra/layer.py): one runtime to "
            "move forward together.",
        )
        self.failures = AsyncFailures(self, "Failures", function=self.function)
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="gift card provider: canary",
            schedule=events.Schedule.rate(Duration.minutes(config.canary_rate_minutes)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )
        period = Duration.minutes(max(5, config.canary_rate_minutes))
        self.alarm = cloudwatch.Alarm(
            self,
            "Failed",
            metric=self.function.metric_errors(period=period, statistic="Sum"),
            threshold=1,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            # A canary that stopped running proves nothing: no data alarms too.
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            alarm_description=(
                "CanaryFailed: the canary card's balance failed twice in a row through the "
                "public API (or the canary stopped running)"
            ),
        )
        notify = cw_actions.SnsAction(monitoring.topic)
        self.alarm.add_alarm_action(notify)
        self.alarm.add_ok_action(notify)
        monitoring.alarms.append(self.alarm)
