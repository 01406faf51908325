"""The operator API: a second REST API for the back office, AWS_IAM (SigV4) on every method.

NewStore's API key can never reach it (a different API, no API-key authorizer). Callers sign with
their own AWS credentials; the stack's two managed policies (support, finance) allow
``execute-api:Invoke`` on exactly the methods of their routes (``giftcard.routes``: each operator
route names the least policy that may call it). Its own stage throttling, access logs (with the
caller's ARN, never a body) and WAF; the gateway's own answers use the webhook envelope, a missing
or bad signature or a refused policy being ``403 forbidden``.
"""

from __future__ import annotations

import json
from dataclasses import replace

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from giftcard import errors
from giftcard.routes import FINANCE, SUPPORT
from infra.api import ACCESS_LOG_FIELDS, GATEWAY_RESPONSES, error_body
from infra.config import StackConfig
from infra.functions import Functions, log_group
from infra.nag import acknowledge
from infra.waf import Waf

#: API Gateway's answers to a missing, malformed, wrong or expired signature and to a policy that
#: does not allow the method (back-office.md: the gateway's own answer, mapped to the envelope).
FORBIDDEN_RESPONSES = (
    apigw.ResponseType.ACCESS_DENIED,
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    apigw.ResponseType.INVALID_SIGNATURE,
    apigw.ResponseType.EXPIRED_TOKEN,
    apigw.ResponseType.UNAUTHORIZED,
)

#: The webhook API's access log line plus who called (the IAM ARN: the actor every change records).
OPERATOR_ACCESS_LOG_FIELDS = {
    **{k: v for k, v in ACCESS_LOG_FIELDS.items() if not k.startswith(("authorizer", "keyId"))},
    "caller": "$context.identity.userArn",
    "accountId": "$context.identity.accountId",
}


class OperatorApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        functions: Functions,
        alarm_topic: sns.ITopic,
        depends_on: Construct | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = log_group(self, "AccessLogs", config.log_retention_days)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{Stack.of(self).stack_name}-operators",
            description="Gift card provider back office (operators sign with SigV4)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # The webhook API manages the account's CloudWatch role; one owner per stack.
            cloud_watch_role=False,
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM
            ),
            deploy_options=apigw.StageOptions(
                stage_name=config.stage_name,
                throttling_rate_limit=config.operator_throttle_rate,
                throttling_burst_limit=config.operator_throttle_burst,
                tracing_enabled=config.tracing,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                # Data trace would log bodies (card numbers, customer data): never.
                data_trace_enabled=False,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps(OPERATOR_ACCESS_LOG_FIELDS)
                ),
            ),
        )
        if depends_on is not None:
            # Access logs need the account's CloudWatch role, which the webhook API creates.
            self.rest_api.node.add_dependency(depends_on)
        self.stage = self.rest_api.deployment_stage

        forbidden = {response_type.response_type for response_type in FORBIDDEN_RESPONSES}
        for response_type in FORBIDDEN_RESPONSES:
            self.rest_api.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                status_code="403",
                templates={
                    "application/json": error_body(
                        errors.Forbidden.error_code, errors.Forbidden.message
                    )
                },
            )
        for response_type, status, error in GATEWAY_RESPONSES:
            if response_type.response_type in forbidden | {
                # No authorizer here; the WAF's block is forbidden too (below).
                "AUTHORIZER_FAILURE",
                "AUTHORIZER_CONFIGURATION_ERROR",
                "WAF_FILTERED",
            }:
                continue
            self.rest_api.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                status_code=status,
                templates={"application/json": error_body(error.error_code, error.message)},
            )
        self.rest_api.add_gateway_response(
            "GatewayWAF_FILTERED",
            type=apigw.ResponseType.WAF_FILTERED,
            status_code="403",
            templates={
                "application/json": error_body(
                    errors.Forbidden.error_code, errors.Forbidden.message
                )
            },
        )

        self.methods: dict[tuple[str, str], apigw.Method] = {}
        invoke: dict[str, list[str]] = {SUPPORT: [], FINANCE: []}
        for operator in functions.operators:
            route = operator.spec.route
            assert route is not None and route.policy is not None
            resource = self.rest_api.root.resource_for_path(route.path)
            self.methods[(route.method, route.path)] = resource.add_method(
                route.method,
                apigw.LambdaIntegration(operator.function, allow_test_invoke=False),
                authorization_type=apigw.AuthorizationType.IAM,
            )
            arn = self.rest_api.arn_for_execute_api(route.method, route.path, self.stage.stage_name)
            invoke[FINANCE].append(arn)
            if route.policy == SUPPORT:
                invoke[SUPPORT].append(arn)

        self.policies: dict[str, iam.ManagedPolicy] = {}
        for policy, who in ((SUPPORT, "Support agents"), (FINANCE, "Finance")):
            self.policies[policy] = iam.ManagedPolicy(
                self,
                f"{policy.capitalize()}Policy",
                description=f"{who}: the gift card back office routes they may call",
                statements=[
                    iam.PolicyStatement(
                        actions=["execute-api:Invoke"], resources=sorted(invoke[policy])
                    )
                ],
            )

        # Its own web ACL: rate limit per IP, body size, known bad inputs; the NewStore IP
        # allow-list does not apply (operators call from their own networks).
        self.waf = Waf(
            self, "Waf", config=replace(config, newstore_ip_allowlist=()), stage=self.stage
        )

        # Its own alarms: a failure operators would see, and refusals in bulk (a lost laptop's
        # keys being tried, or a policy missing after a reorganisation).
        notify = cw_actions.SnsAction(alarm_topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for name, metric, threshold, description in (
            (
                "OperatorApi5xx",
                self.stage.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
                1,
                "The operator API answered 5xx",
            ),
            (
                "OperatorApiRefusals",
                self.stage.metric_client_error(period=Duration.minutes(5), statistic="Sum"),
                config.operator_refusal_alarm_threshold,
                "Many operator requests refused in 5 minutes (403 forbidden, 4xx): bad "
                "signatures, missing policies or probing",
            ),
        ):
            created = cloudwatch.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            created.add_alarm_action(notify)
            created.add_ok_action(notify)
            self.alarms.append(created)

        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG2",
            "Bodies are validated by the pydantic models in each function, the one place that "
            "answers with the contract's error body.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-COG4",
            "Operators authenticate with AWS_IAM (SigV4 with their own credentials, SSO or "
            "profiles), as back-office.md decides; no Cognito user pool.",
        )

    @property
    def url(self) -> str:
        return self.rest_api.url
