"""Alarms to an encrypted SNS topic (the optional dashboard: infra/dashboard.py)."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from giftcard import metric_names
from infra.api import Api
from infra.config import StackConfig
from infra.functions import RESERVATION_EXPIRY, Functions
from infra.storage import Storage
from infra.waf import Waf

FIVE_MINUTES = Duration.minutes(5)
FIFTEEN_MINUTES = Duration.minutes(15)
ONE_HOUR = Duration.hours(1)
ONE_DAY = Duration.days(1)
#: Custom metric the functions emit (Powertools Metrics: namespace, "service" dimension, and the
#: "stack" dimension giftcard.observability adds from STACK_NAME, so environments stay apart).
METRICS_NAMESPACE = "GiftCards"


def service_dimensions(stack_name: str) -> dict[str, str]:
    return {"service": "giftcard", "stack": stack_name}


#: DynamoDB operations the functions call (SystemErrors is reported per operation).
TABLE_OPERATIONS = (
    dynamodb.Operation.GET_ITEM,
    dynamodb.Operation.BATCH_GET_ITEM,
    dynamodb.Operation.PUT_ITEM,
    dynamodb.Operation.UPDATE_ITEM,
    dynamodb.Operation.QUERY,
    dynamodb.Operation.TRANSACT_WRITE_ITEMS,
)


def alarm_arn_pattern() -> str:
    """ARN pattern of this stack's alarms (CloudFormation names them ``<stack>-<id>-<hash>``)."""
    return f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:{Aws.STACK_NAME}-*"


def service_metric(name: str, period: Duration, stack_name: str) -> cloudwatch.Metric:
    """A custom metric this stack's functions emit, summed over ``period``."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map=service_dimensions(stack_name),
        statistic="Sum",
        period=period,
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        storage: Storage,
        functions: Functions,
        api: Api,
        waf: Waf,
    ) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch cannot publish to a topic encrypted with the AWS managed aws/sns key (its
        # policy is fixed), so the topic gets its own key that lets CloudWatch use it.
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Gift card provider: alarm topic encryption",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        # Only on behalf of this stack's alarms (CloudFormation names them "<stack>-<id>-<hash>"),
        # so no other account's or stack's alarm can use CloudWatch as a confused deputy.
        from_our_alarms = {
            "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
            "ArnLike": {"aws:SourceArn": alarm_arn_pattern()},
        }
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsUseTheKey",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions=from_our_alarms,
            )
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="Gift card provider alarms",
            master_key=key,
            enforce_ssl=True,
        )
        # enforce_ssl gives the topic a policy of its own, which replaces SNS's default one: from
        # then on only what this policy allows may publish, so CloudWatch must be named here or
        # no alarm ever reaches a subscriber.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=from_our_alarms,
            )
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        notify = cw_actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(
            name: str,
            metric: cloudwatch.IMetric,
            *,
            threshold: float,
            description: str,
            periods: int = 1,
            comparison: cloudwatch.ComparisonOperator = (
                cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
            ),
            missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
        ) -> None:
            created = cloudwatch.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                comparison_operator=comparison,
                treat_missing_data=missing,
                alarm_description=description,
            )
            created.add_alarm_action(notify)
            created.add_ok_action(notify)
            self.alarms.append(created)

        stage = api.stage
        alarm(
            "Api5xx",
            stage.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            threshold=1,
            description="API Gateway answered 5xx (internal_error/retry_error or gateway errors)",
        )
        alarm(
            "ApiLatencyP99",
            stage.metric_latency(period=FIVE_MINUTES, statistic="p99"),
            threshold=config.latency_p99_alarm_ms,
            periods=3,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"p99 latency above {config.latency_p99_alarm_ms} ms for 15 minutes",
        )

        for name, construct in functions.by_name.items():
            fn = construct.function
            label = "".join(part.capitalize() for part in name.split("_"))
            if name == RESERVATION_EXPIRY:
                label = "ReservationExpiryJob"
            alarm(
                f"{label}Errors",
                fn.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                threshold=1,
                description=f"{name}: function errors (unhandled exceptions, timeouts)",
            )
            alarm(
                f"{label}Throttles",
                fn.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                threshold=1,
                description=f"{name}: invocations throttled (account concurrency)",
            )
        alarm(
            "ReservationExpiryJobNotRunning",
            functions.reservation_expiry.metric_invocations(
                period=Duration.hours(1), statistic="Sum"
            ),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
            description="reservation expiry job did not run for an hour (schedule disabled?)",
        )

        table = storage.table
        throttle_events = cloudwatch.MathExpression(
            expression="reads + writes",
            using_metrics={
                "reads": table.metric("ReadThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
                "writes": table.metric("WriteThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
            },
            label="DynamoDB throttle events",
            period=FIVE_MINUTES,
        )
        self.table_throttles = throttle_events
        alarm(
            "TableThrottles",
            throttle_events,
            threshold=1,
            description="DynamoDB throttled reads or writes (on-demand limits reached)",
        )
        alarm(
            "TableSystemErrors",
            table.metric_system_errors_for_operations(
                operations=list(TABLE_OPERATIONS),
                period=FIVE_MINUTES,
            ),
            threshold=1,
            description="DynamoDB answered with 5xx system errors",
        )
        pin_lockouts = service_metric(metric_names.PIN_LOCKOUTS, FIVE_MINUTES, config.stack_name)
        alarm(
            "PinLockoutSpike",
            pin_lockouts,
            threshold=config.pin_lockout_alarm_threshold,
            description="Many cards locked after wrong PINs: possible PIN guessing",
        )
        # A patient attacker stays under the 5-minute spike threshold; summed over an hour the
        # same guessing still shows.
        alarm(
            "PinLockoutsHourly",
            service_metric(metric_names.PIN_LOCKOUTS, ONE_HOUR, config.stack_name),
            threshold=config.pin_lockout_hourly_alarm_threshold,
            description="Cards locked after wrong PINs, summed over an hour: slow PIN guessing",
        )
        alarm(
            "PinHardLocks",
            service_metric(metric_names.PIN_HARD_LOCKS, ONE_DAY, config.stack_name),
            threshold=1,
            description="A card's PIN checks hard-locked (5 lockouts in a row): operator unlock",
        )
        alarm(
            "IdempotencyKeyReused",
            service_metric(metric_names.IDEMPOTENCY_KEY_REUSED, FIFTEEN_MINUTES, config.stack_name),
            threshold=1,
            description="An idempotency key came back with different parameters (client bug?)",
        )
        alarm(
            "IssuanceLimitReached",
            service_metric(metric_names.ISSUANCE_LIMIT_REACHED, FIVE_MINUTES, config.stack_name),
            threshold=1,
            description="Issue/activate refused: a currency reached its daily issuance ceiling",
        )
        alarm(
            "IssuanceCeilingNear",
            service_metric(metric_names.ISSUANCE_CEILING_NEAR, FIVE_MINUTES, config.stack_name),
            threshold=1,
            description="A currency's issuance today passed the warning fraction of its ceiling",
        )
