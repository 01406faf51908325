"""The REST API: routes, authorizer, gateway errors, stage settings."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from giftcard import errors
from giftcard.routes import ROUTES, WEBHOOKS
from tests.infra.conftest import Synth


def resource_paths(synth: Synth) -> dict[str, str]:
    """Logical id of each AWS::ApiGateway::Resource -> its full path."""
    resources = synth.resources("AWS::ApiGateway::Resource")
    paths: dict[str, str] = {}

    def path_of(logical_id: str) -> str:
        if logical_id not in paths:
            props = resources[logical_id]["Properties"]
            parent = props["ParentId"]
            prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
            paths[logical_id] = f"{prefix}/{props['PathPart']}"
        return paths[logical_id]

    for logical_id in resources:
        path_of(logical_id)
    return paths


#: NewStore's routes (the operator API's are tested in test_operator_api.py).
WEBHOOK_ROUTES = [route for route in ROUTES if route.api == WEBHOOKS]


def methods_by_route(synth: Synth, rest_api: Any = None) -> dict[tuple[str, str], dict[str, Any]]:
    """(path, method) -> the method's properties, on the webhook API unless told otherwise."""
    paths = resource_paths(synth)
    api_id = synth.logical_id(rest_api if rest_api is not None else synth.stack.api.rest_api)
    return {
        (paths[m["Properties"]["ResourceId"]["Ref"]], m["Properties"]["HttpMethod"]): m[
            "Properties"
        ]
        for m in synth.resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["RestApiId"] == {"Ref": api_id}
    }


def authorizer_id(synth: Synth) -> str:
    (logical_id,) = synth.resources("AWS::ApiGateway::Authorizer")
    return logical_id


def test_every_route_is_a_post_to_its_own_function_behind_the_authorizer(synth: Synth) -> None:
    # Given the synthesized stack
    methods = methods_by_route(synth)
    functions = synth.stack.functions.by_name
    # Then each route of the route table is a POST proxied to its function, with the authorizer
    for route in WEBHOOK_ROUTES:
        method = methods[(route.path, "POST")]
        assert method["AuthorizationType"] == "CUSTOM"
        assert method["AuthorizerId"] == {"Ref": authorizer_id(synth)}
        assert method["Integration"]["Type"] == "AWS_PROXY"
        uri = json.dumps(method["Integration"]["Uri"])
        assert synth.logical_id(functions[route.function].function) in uri
    # And nothing else is routed: POST per route, plus ANY (405) on the same paths
    assert set(methods) == {(r.path, "POST") for r in WEBHOOK_ROUTES} | {
        (r.path, "ANY") for r in WEBHOOK_ROUTES
    }


def test_other_methods_answer_405_after_the_key_check(synth: Synth) -> None:
    methods = methods_by_route(synth)
    for route in WEBHOOK_ROUTES:
        method = methods[(route.path, "ANY")]
        assert method["AuthorizationType"] == "CUSTOM"
        assert method["AuthorizerId"] == {"Ref": authorizer_id(synth)}
        integration = method["Integration"]
        assert integration["Type"] == "MOCK"
        (response,) = integration["IntegrationResponses"]
        assert response["StatusCode"] == "405"
        body = json.loads(response["ResponseTemplates"]["application/json"])
        assert body["error_code"] == "method_not_allowed"


def test_authorizer_reads_the_key_header_and_caches_results(synth: Synth) -> None:
    (props,) = [r["Properties"] for r in synth.resources("AWS::ApiGateway::Authorizer").values()]
    assert props["Type"] == "REQUEST"
    assert props["IdentitySource"] == "method.request.header.Authorization"
    assert props["AuthorizerResultTtlInSeconds"] == 300
    assert synth.logical_id(synth.stack.functions.authorizer) in json.dumps(props["AuthorizerUri"])


def test_authorizer_header_and_cache_come_from_context(configured: Synth) -> None:
    configured.template.has_resource_properties(
        "AWS::ApiGateway::Authorizer",
        {"IdentitySource": "method.request.header.X-Api-Key", "AuthorizerResultTtlInSeconds": 60},
    )


EXPECTED_GATEWAY_RESPONSES = {
    "UNAUTHORIZED": ("401", "unauthorized"),
    "ACCESS_DENIED": ("401", "unauthorized"),
    "WAF_FILTERED": ("403", "forbidden"),
    "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found"),
    "RESOURCE_NOT_FOUND": ("404", "not_found"),
    "REQUEST_TOO_LARGE": ("413", "payload_too_large"),
    "THROTTLED": ("429", "rate_limit"),
    "QUOTA_EXCEEDED": ("429", "rate_limit"),
    "AUTHORIZER_FAILURE": ("503", "retry_error"),
    "AUTHORIZER_CONFIGURATION_ERROR": ("503", "retry_error"),
    "BAD_REQUEST_BODY": ("400", "invalid_request"),
    "UNSUPPORTED_MEDIA_TYPE": ("405", "method_not_allowed"),
    "DEFAULT_4XX": (None, "invalid_request"),
    # A gateway 502/504 (function timeout, crash, throttling) may follow a commit: never
    # "internal_error" (nothing committed), but retry_error (retry with the same key)
    "INTEGRATION_TIMEOUT": ("503", "retry_error"),
    "INTEGRATION_FAILURE": ("503", "retry_error"),
    "DEFAULT_5XX": ("503", "retry_error"),
}


SERVICE_MESSAGES = {
    error.error_code: error.message
    for error in (
        errors.Unauthorized,
        errors.Forbidden,
        errors.NotFound,
        errors.PayloadTooLarge,
        errors.RateLimited,
        errors.RetryError,
        errors.InvalidRequest,
        errors.MethodNotAllowed,
        errors.InternalError,
    )
}


def test_gateway_errors_use_the_contract_error_body(synth: Synth) -> None:
    api_id = {"Ref": synth.logical_id(synth.stack.api.rest_api)}
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.resources("AWS::ApiGateway::GatewayResponse").values()
        if r["Properties"]["RestApiId"] == api_id
    }
    assert set(responses) == set(EXPECTED_GATEWAY_RESPONSES)
    for response_type, (status, error_code) in EXPECTED_GATEWAY_RESPONSES.items():
        props = responses[response_type]
        assert props.get("StatusCode") == status, response_type
        body = json.loads(props["ResponseTemplates"]["application/json"])
        assert set(body) == {"error_code", "message"}
        assert body["error_code"] == error_code
        # the very words the service (and the local gateway) answers with for that code: the
        # gateway's bodies and the service's cannot drift apart
        assert body["message"] == SERVICE_MESSAGES[error_code], response_type


def test_stage_throttles_traces_and_writes_json_access_logs(synth: Synth) -> None:
    stage = synth.json["Resources"][synth.logical_id(synth.stack.api.stage)]["Properties"]
    assert stage["StageName"] == "v1"
    assert stage["TracingEnabled"] is True
    (settings,) = stage["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == 50
    assert settings["ThrottlingBurstLimit"] == 100
    assert settings["DataTraceEnabled"] is False  # bodies hold card numbers and PINs
    access_log = json.loads(stage["AccessLogSetting"]["Format"])
    assert access_log["requestId"] == "$context.requestId"
    assert access_log["status"] == "$context.status"
    (log_group,) = [
        lid
        for lid in synth.resources("AWS::Logs::LogGroup")
        if lid in json.dumps(stage["AccessLogSetting"]["DestinationArn"])
    ]
    assert synth.json["Resources"][log_group]["Properties"]["RetentionInDays"] == 90


def test_stage_settings_come_from_context(configured: Synth) -> None:
    configured.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "live",
            "TracingEnabled": False,
            "MethodSettings": [
                Match.object_like({"ThrottlingRateLimit": 20, "ThrottlingBurstLimit": 40})
            ],
        },
    )


def test_api_name_is_unique_per_stack(synth: Synth, configured: Synth) -> None:
    # The API name is the ApiName dimension of the API alarms
    synth.template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"Name": "GiftCardProvider-webhooks"}
    )
    configured.template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"Name": "GiftCardsConfigured-webhooks"}
    )


def test_the_execution_log_group_is_the_stacks_with_retention(synth: Synth) -> None:
    # Given the group API Gateway writes its execution log to (it would create it, never to
    # expire, if it did not exist when the stage first logs)
    rest_api = synth.logical_id(synth.stack.api.rest_api)
    stage_id = synth.logical_id(synth.stack.api.stage)
    (group_id,) = [
        lid
        for lid, r in synth.resources("AWS::Logs::LogGroup").items()
        if "API-Gateway-Execution-Logs_" in json.dumps(r["Properties"].get("LogGroupName"))
    ]
    group = synth.json["Resources"][group_id]
    # Then it is named for this API and stage, expires, and exists before the stage
    assert group["Properties"]["LogGroupName"] == {
        "Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": rest_api}, "/v1"]]
    }
    assert group["Properties"]["RetentionInDays"] == 90
    assert group_id in synth.json["Resources"][stage_id]["DependsOn"]
