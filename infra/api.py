"""The REST API (v1): POST routes behind the API-key authorizer, contract-shaped gateway errors."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from constructs import Construct

from giftcard import errors
from infra.config import RETENTION_DAYS, StackConfig
from infra.functions import Functions, log_group
from infra.nag import acknowledge


def error_body(error_code: str, message: str) -> str:
    """The contract's error body, as API Gateway and WAF send it."""
    return json.dumps({"error_code": error_code, "message": message}, separators=(",", ":"))


#: API Gateway's own answers, rewritten to the contract's error body: the same code and message
#: as the service's own error of that kind (``giftcard.errors``, the one place they are written).
#: ``None`` keeps the status API Gateway chose (the 4xx family's own status).
GATEWAY_RESPONSES: tuple[tuple[apigw.ResponseType, str | None, type[errors.ServiceError]], ...] = (
    (apigw.ResponseType.UNAUTHORIZED, "401", errors.Unauthorized),
    # Our authorizer is the only source of a deny: for NewStore it means "key not accepted",
    # and the contract answers every rejected key with 401.
    (apigw.ResponseType.ACCESS_DENIED, "401", errors.Unauthorized),
    # The WAF's IP allow-list (when configured); not a contract outcome for NewStore itself.
    (apigw.ResponseType.WAF_FILTERED, "403", errors.Forbidden),
    # API Gateway answers a path (or method) it does not know with 403 "Missing Authentication
    # Token"; the contract says 404 not_found.
    (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", errors.NotFound),
    (apigw.ResponseType.RESOURCE_NOT_FOUND, "404", errors.NotFound),
    (apigw.ResponseType.REQUEST_TOO_LARGE, "413", errors.PayloadTooLarge),
    (apigw.ResponseType.THROTTLED, "429", errors.RateLimited),
    (apigw.ResponseType.QUOTA_EXCEEDED, "429", errors.RateLimited),
    (apigw.ResponseType.AUTHORIZER_FAILURE, "503", errors.RetryError),
    (apigw.ResponseType.AUTHORIZER_CONFIGURATION_ERROR, "503", errors.RetryError),
    (apigw.ResponseType.BAD_REQUEST_BODY, "400", errors.InvalidRequest),
    # Only the 405 mock methods have request templates, so only they can answer 415.
    (apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, "405", errors.MethodNotAllowed),
    (apigw.ResponseType.DEFAULT_4_XX, None, errors.InvalidRequest),
    # API Gateway's own 5xx (a function timeout, crash or throttling; an integration timeout) can
    # follow a commit, so they must not say "nothing was committed" (internal_error): 503
    # retry_error, and a retry with the same idempotency key is safe (it replays or executes once).
    (apigw.ResponseType.INTEGRATION_TIMEOUT, "503", errors.RetryError),
    (apigw.ResponseType.INTEGRATION_FAILURE, "503", errors.RetryError),
    (apigw.ResponseType.DEFAULT_5_XX, "503", errors.RetryError),
)

#: JSON access log line per request. No body, no header value: the key never reaches the logs.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "errorType": "$context.error.responseType",
    "errorMessage": "$context.error.message",
    "authorizerStatus": "$context.authorizer.status",
    "authorizerError": "$context.authorizer.error",
    "keyId": "$context.authorizer.key_id",
    "wafStatus": "$context.wafResponseCode",
    "xrayTraceId": "$context.xrayTraceId",
}


class Api(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, functions: Functions
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = log_group(self, "AccessLogs", config.log_retention_days)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            # The name is the ApiName metric dimension: unique per stack, so two deployments in
            # one account do not share alarms.
            rest_api_name=f"{Stack.of(self).stack_name}-webhooks",
            description="Gift card provider webhooks for NewStore",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # With a custom domain (TLS 1.2 policy, infra/domain.py) the execute-api URL is off,
            # so no request can go around that domain's policy.
            disable_execute_api_endpoint=bool(config.domain_name),
            # Access logs need the region's account-level CloudWatch role (a fresh account has
            # none). It is one setting per account and region: only one stack may manage it, and
            # it stays when that stack goes (the others' logging depends on it).
            cloud_watch_role=config.api_gateway_cloudwatch_role,
            cloud_watch_role_removal_policy=(
                RemovalPolicy.RETAIN if config.api_gateway_cloudwatch_role else None
            ),
            deploy_options=apigw.StageOptions(
                stage_name=config.stage_name,
                throttling_rate_limit=config.throttle_rate,
                throttling_burst_limit=config.throttle_burst,
                tracing_enabled=config.tracing,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                # Data trace would log bodies (card numbers, PINs): never.
                data_trace_enabled=False,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
            ),
        )
        self.stage = self.rest_api.deployment_stage
        # API Gateway writes its execution log (logging_level ERROR) to a group of this name,
        # and creates it itself, never to expire, unless it exists first: created here, with the
        # stack's retention, before the stage starts logging.
        self.execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=(
                f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{config.stage_name}"
            ),
            retention=RETENTION_DAYS[config.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.stage.node.add_dependency(self.execution_logs)

        self.authorizer = apigw.RequestAuthorizer(
            self,
            "ApiKeyAuthorizer",
            authorizer_name="api-key",
            handler=functions.authorizer,
            identity_sources=[apigw.IdentitySource.header(config.api_key_header)],
            results_cache_ttl=Duration.seconds(config.authorizer_cache_seconds),
        )

        for response_type, status, error in GATEWAY_RESPONSES:
            self.rest_api.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                status_code=status,
                templates={"application/json": error_body(error.error_code, error.message)},
            )

        method_not_allowed = apigw.MockIntegration(
            request_templates={"application/json": '{"statusCode": 405}'},
            passthrough_behavior=apigw.PassthroughBehavior.NEVER,
            integration_responses=[
                apigw.IntegrationResponse(
                    status_code="405",
                    response_templates={
                        "application/json": error_body(
                            "method_not_allowed", "Only POST is allowed."
                        )
                    },
                )
            ],
        )
        self.routes: dict[str, apigw.Method] = {}
        for webhook in functions.webhooks:
            route = webhook.spec.route
            assert route is not None
            resource = self.rest_api.root.resource_for_path(route.path)
            self.routes[route.path] = resource.add_method(
                route.method,
                apigw.LambdaIntegration(webhook.function, allow_test_invoke=False),
                authorizer=self.authorizer,
                authorization_type=apigw.AuthorizationType.CUSTOM,
            )
            # Any other method on a known path: 405 (after the key check, like every route).
            resource.add_method(
                "ANY",
                method_not_allowed,
                authorizer=self.authorizer,
                authorization_type=apigw.AuthorizationType.CUSTOM,
                method_responses=[apigw.MethodResponse(status_code="405")],
            )

        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG2",
            "Bodies are validated by the pydantic models in each function, the one place that "
            "answers with the contract's error body; an API Gateway model would duplicate the "
            "schema and answer in its own shape.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-COG4",
            "NewStore authenticates with an API key header (its gift_card configuration), "
            "checked by the Lambda REQUEST authorizer; it cannot use Cognito.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level CloudWatch role needs the AWS managed "
            "AmazonAPIGatewayPushToCloudWatchLogs policy, the documented way to enable "
            "access logs.",
        )

    @property
    def url(self) -> str:
        return self.rest_api.url
