"""Where a failed asynchronous run of a function goes: no retries by Lambda, a queue that keeps
the failed event.

Lambda retries an asynchronous invocation twice by default. The reservation expiry job is
idempotent and runs on a schedule, so a failed run is simply repeated by the next one; Lambda's
retries would only stack runs up. The failed event (what was invoked, and the error) is kept in
a queue for 14 days so someone can see what failed; the ``ReservationExpiryJobErrors`` alarm is
what tells them to look.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge


class AsyncFailures(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.Function) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.queue,
            "AwsSolutions-SQS3",
            "This queue is itself the on-failure destination of the expiry job's asynchronous "
            "runs; a queue behind it would hold nothing this one does not.",
        )
        function.configure_async_invoke(
            retry_attempts=0,
            max_event_age=Duration.hours(1),
            on_failure=destinations.SqsDestination(self.queue),
        )
