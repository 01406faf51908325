"""Optional CloudWatch dashboard (``dashboard``): what an on-call engineer opens first.

Rows: requests and answers by status; answers by error code (Logs Insights over the functions'
"request answered" lines, which carry ``error_code``) and API Gateway's own refusals by type
(access log ``errorType``); latency percentiles; PIN lockouts; storage retries exhausted;
throttles at every layer; every alarm's state.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from giftcard import metric_names
from infra.api import Api
from infra.config import StackConfig
from infra.functions import Functions
from infra.monitoring import FIVE_MINUTES, Monitoring, service_metric
from infra.waf import Waf


class Dashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        api: Api,
        functions: Functions,
        waf: Waf,
        monitoring: Monitoring,
    ) -> None:
        super().__init__(scope, construct_id)
        stage = api.stage

        def custom(name: str, label: str) -> cloudwatch.Metric:
            return service_metric(name, FIVE_MINUTES, config.stack_name).with_(label=label)

        def waf_blocks(rule: str, label: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/WAFV2",
                metric_name="BlockedRequests",
                dimensions_map={
                    "WebACL": waf.web_acl_name,
                    "Rule": rule,
                    "Region": Stack.of(self).region,
                },
                statistic="Sum",
                period=FIVE_MINUTES,
                label=label,
            )

        webhook_logs = [f.log_group.log_group_name for f in functions.webhooks]
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            default_interval=Duration.hours(6),
            widgets=[
                [
                    cloudwatch.GraphWidget(
                        title="Requests and answers",
                        left=[
                            stage.metric_count(period=FIVE_MINUTES, label="requests"),
                            stage.metric_client_error(period=FIVE_MINUTES, label="4xx"),
                            stage.metric_server_error(period=FIVE_MINUTES, label="5xx"),
                        ],
                        width=12,
                    ),
                    cloudwatch.GraphWidget(
                        title="Latency percentiles (ms)",
                        left=[
                            stage.metric_latency(period=FIVE_MINUTES, statistic=p, label=p)
                            for p in ("p50", "p90", "p99")
                        ],
                        right=[
                            stage.metric_integration_latency(
                                period=FIVE_MINUTES, statistic="p99", label="function p99"
                            )
                        ],
                        width=12,
                    ),
                ],
                [
                    cloudwatch.LogQueryWidget(
                        title="Answers by error code (webhooks)",
                        log_group_names=webhook_logs,
                        query_lines=[
                            "filter message = 'request answered' and ispresent(error_code)",
                            "stats count(*) as answers by error_code, webhook",
                            "sort answers desc",
                        ],
                        width=12,
                    ),
                    cloudwatch.LogQueryWidget(
                        title="API Gateway's own answers by type (access log)",
                        log_group_names=[api.access_logs.log_group_name],
                        query_lines=[
                            "filter ispresent(errorType) and errorType != '-'",
                            "stats count(*) as answers by errorType, status",
                            "sort answers desc",
                        ],
                        width=12,
                    ),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="PIN lockouts",
                        left=[
                            custom(metric_names.PIN_FAILURES, "wrong PINs"),
                            custom(metric_names.PIN_LOCKOUTS, "lockouts"),
                            custom(metric_names.PIN_HARD_LOCKS, "hard locks"),
                        ],
                        width=8,
                    ),
                    cloudwatch.GraphWidget(
                        title="Storage retries exhausted (503 retry_error)",
                        left=[custom(metric_names.RETRIES_EXHAUSTED, "retries exhausted")],
                        right=[monitoring.table_throttles],
                        width=8,
                    ),
                    cloudwatch.GraphWidget(
                        title="Throttles",
                        left=[
                            waf_blocks("RateLimitPerIp", "WAF rate limit"),
                            *[
                                f.function.metric_throttles(
                                    period=FIVE_MINUTES, statistic="Sum", label=name
                                )
                                for name, f in functions.by_name.items()
                            ],
                        ],
                        width=8,
                    ),
                ],
                [
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms", alarms=list(monitoring.alarms), width=24
                    )
                ],
            ],
        )
