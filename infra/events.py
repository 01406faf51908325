"""Events out: the table's stream -> the publisher Lambda -> the stack's event bus (archived).

One event per ledger entry (back-office.md, "Events out"; docs/events/README.md). The event
source mapping reports partial batch failures, bisects a failing batch, retries a bounded number
of times for a bounded time, and then describes what it gave up on in a dead-letter queue that
alarms. The publisher may put events on its bus and nowhere else.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from giftcard import events as event_model
from giftcard.grants import Access
from giftcard.writes import ENTRY_PREFIX
from infra.config import StackConfig
from infra.functions import FunctionSpec, WebhookFunction
from infra.monitoring import FIVE_MINUTES, Monitoring
from infra.nag import acknowledge
from infra.storage import Storage

#: No table item, no secret: it reads the stream (granted by its event source) and puts events.
PUBLISHER = FunctionSpec(
    "event_publisher",
    "Publish ledger entries from the table's stream to the event bus",
    Access(reads_key_material=False),
)
#: Stream records per invocation (DynamoDB's default): ten PutEvents calls at most.
BATCH_SIZE = 100
#: A batch that keeps failing is retried this many times (bisected on each failure, so one
#: bad record is soon alone) ...
RETRY_ATTEMPTS = 10
#: ... and for at most this long: then its description goes to the dead-letter queue. The
#: stream keeps records 24 hours; what is left is the time to redrive (docs/events/README.md).
MAX_RECORD_AGE = Duration.hours(6)
#: The archive keeps every event this long, for consumers to replay.
ARCHIVE_RETENTION = Duration.days(365)
#: The dead-letter queue keeps what it was given this long (SQS's maximum).
DLQ_RETENTION = Duration.days(14)
#: The publisher is behind the table by more than this: alarm.
ITERATOR_AGE_ALARM = Duration.minutes(15)


class Events(Construct):
    """The bus (and its archive), the publisher and its dead-letter queue, with their alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        storage: Storage,
        layer: lambda_.ILayerVersion,
        monitoring: Monitoring,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(
            self, "Bus", description="Gift card provider: one event per ledger entry"
        )
        self.archive = self.bus.archive(
            "Archive",
            description="Every gift card event, for consumers to replay",
            event_pattern=events.EventPattern(source=[event_model.SOURCE]),
            retention=ARCHIVE_RETENTION,
        )
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter queue: the publisher's event source mapping sends "
            "what it gives up on here (an on-failure destination, not a redrive policy).",
        )

        self.publisher = WebhookFunction(
            self,
            "Publisher",
            spec=PUBLISHER,
            config=config,
            layer=layer,
            environment={
                "EVENT_BUS_NAME": self.bus.event_bus_name,
                "POWERTOOLS_SERVICE_NAME": "giftcard",
                "POWERTOOLS_METRICS_NAMESPACE": "GiftCards",
                "POWERTOOLS_LOG_LEVEL": config.log_level,
                "POWERTOOLS_TRACE_DISABLED": "false" if config.tracing else "true",
            },
        )
        self.bus.grant_put_events_to(self.publisher.role)
        self.publisher.function.add_event_source(
            sources.DynamoEventSource(
                storage.table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=BATCH_SIZE,
                report_batch_item_failures=True,
                bisect_batch_on_error=True,
                retry_attempts=RETRY_ATTEMPTS,
                max_record_age=MAX_RECORD_AGE,
                on_failure=sources.SqsDlq(self.dead_letter_queue),
                # Only new ledger entries wake the publisher (it skips anything else anyway).
                filters=[
                    lambda_.FilterCriteria.filter(
                        {
                            "eventName": [event_model.INSERT],
                            "dynamodb": {"Keys": {"SK": {"S": [{"prefix": ENTRY_PREFIX}]}}},
                        }
                    )
                ],
            )
        )
        acknowledge(
            self.publisher.role,
            "AwsSolutions-IAM5[Resource::*]",
            "dynamodb:ListStreams has no resource-level permissions; CDK grants it with "
            "Resource * beside the stream read on this table's stream.",
        )

        notify = cw_actions.SnsAction(monitoring.topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for name, metric, threshold, description in (
            (
                "EventsDeadLettered",
                self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=FIVE_MINUTES, statistic="Maximum"
                ),
                1,
                "Events could not be published: the dead-letter queue names the stream records "
                "(redrive within 24 hours, docs/events/README.md)",
            ),
            (
                "EventPublisherErrors",
                self.publisher.function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                1,
                "event_publisher: function errors (unhandled exceptions, timeouts)",
            ),
            (
                "EventPublisherBehind",
                self.publisher.function.metric(
                    "IteratorAge", period=FIVE_MINUTES, statistic="Maximum"
                ),
                ITERATOR_AGE_ALARM.to_milliseconds(),
                "Events lag the ledger by more than 15 minutes (publisher failing or throttled)",
            ),
        ):
            alarm = cloudwatch.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            alarm.add_alarm_action(notify)
            alarm.add_ok_action(notify)
            self.alarms.append(alarm)

    def dashboard_widgets(self) -> list[cloudwatch.IWidget]:
        """What the operations dashboard (an extra, infra/dashboard.py) shows of events out."""
        return [
            cloudwatch.GraphWidget(
                title="Events out",
                left=[
                    self.publisher.function.metric_invocations(period=FIVE_MINUTES),
                    self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=FIVE_MINUTES
                    ),
                ],
                right=[
                    self.publisher.function.metric(
                        "IteratorAge", period=FIVE_MINUTES, statistic="Maximum"
                    )
                ],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(title="Events out alarms", alarms=self.alarms, width=12),
        ]
