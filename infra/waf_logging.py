"""Optional WAF request logs (``waf_logging``): every request the web ACL saw, with the rule that
matched, to CloudWatch Logs.

WAF logs request headers, so the API key header is redacted; bodies (card numbers, PINs) are
never logged by WAF. The log group name must start with ``aws-waf-logs-``; WAF adds the log
group's resource policy for its delivery itself when the logging configuration is created.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import RETENTION_DAYS, StackConfig
from infra.waf import Waf


class WafLogging(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, waf: Waf):
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"aws-waf-logs-{config.stack_name}",
            retention=RETENTION_DAYS[config.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN,
        )
        # WAF wants the group's ARN without the ":*" suffix CloudFormation's Arn attribute has.
        destination = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=self.log_group.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.configuration = wafv2.CfnLoggingConfiguration(
            self,
            "Configuration",
            resource_arn=waf.web_acl.attr_arn,
            log_destination_configs=[destination],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(
                    single_header={"Name": config.api_key_header.lower()}
                )
            ],
        )
        self.configuration.node.add_dependency(self.log_group)
