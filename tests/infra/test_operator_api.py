"""The operator API: a second REST API, AWS_IAM on every method, its own stage settings, WAF and
gateway answers, and two managed policies that allow exactly their routes."""

from __future__ import annotations

import json
from typing import Any

from giftcard import errors
from giftcard.routes import FINANCE, OPERATOR, ROUTES, SUPPORT
from tests.infra.conftest import Synth
from tests.infra.test_api import methods_by_route

OPERATOR_ROUTES = [route for route in ROUTES if route.api == OPERATOR]


def test_every_operator_route_is_an_iam_method_on_its_own_function(synth: Synth) -> None:
    api = synth.stack.operator_api
    methods = methods_by_route(synth, api.rest_api)
    functions = synth.stack.functions.by_name
    assert OPERATOR_ROUTES
    for route in OPERATOR_ROUTES:
        method = methods[(route.path, route.method)]
        assert method["AuthorizationType"] == "AWS_IAM", route.path
        assert "AuthorizerId" not in method
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert synth.logical_id(functions[route.function].function) in json.dumps(
            method["Integration"]["Uri"]
        )
    # Nothing else on it: no method without IAM, no webhook reachable with an API key.
    assert set(methods) == {(r.path, r.method) for r in OPERATOR_ROUTES}
    assert all(path.startswith("/admin/") for path, _ in methods)


def test_the_webhook_api_has_no_operator_route(synth: Synth) -> None:
    paths = {path for path, _ in methods_by_route(synth)}
    assert not any(path.startswith("/admin") for path in paths)


def _invoke_resources(synth: Synth, policy: Any) -> set[str]:
    props = synth.json["Resources"][synth.logical_id(policy)]["Properties"]
    (statement,) = props["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    resources = statement["Resource"]
    resources = resources if isinstance(resources, list) else [resources]
    # Each ARN is a Fn::Join of the API, its stage and "/<METHOD>/<path>" (no wildcard)
    tails = set()
    for resource in resources:
        parts = resource["Fn::Join"][1]
        assert "*" not in json.dumps(parts)
        assert {"Ref": synth.logical_id(synth.stack.operator_api.stage)} in parts
        tails.add(parts[-1])
    return tails


def _tail(route: Any) -> str:
    return f"/{route.method}{route.path}"


def test_support_may_call_support_routes_only_and_finance_every_operator_route(
    synth: Synth,
) -> None:
    policies = synth.stack.operator_api.policies
    support = _invoke_resources(synth, policies[SUPPORT])
    finance = _invoke_resources(synth, policies[FINANCE])
    assert support == {_tail(r) for r in OPERATOR_ROUTES if r.policy == SUPPORT}
    assert finance == {_tail(r) for r in OPERATOR_ROUTES}
    # The contract's split: support reads and blocks; money, expiry, erasure and reports are
    # finance's.
    support_paths = {r.path for r in OPERATOR_ROUTES if r.policy == SUPPORT}
    assert {"/admin/cards/lookup", "/admin/cards/freeze", "/admin/cards/unlock_pin"} <= (
        support_paths
    )
    assert not {"/admin/cards/adjust", "/admin/customers/erase", "/admin/audit/run"} & (
        support_paths
    )
    outputs = synth.json["Outputs"]
    assert {"OperatorApiUrl", "SupportPolicyArn", "FinancePolicyArn"} <= set(outputs)


def test_gateway_refusals_are_403_forbidden_in_the_envelope(synth: Synth) -> None:
    api_id = synth.logical_id(synth.stack.operator_api.rest_api)
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.resources("AWS::ApiGateway::GatewayResponse").values()
        if r["Properties"]["RestApiId"] == {"Ref": api_id}
    }
    for kind in (
        "ACCESS_DENIED",
        "MISSING_AUTHENTICATION_TOKEN",
        "INVALID_SIGNATURE",
        "EXPIRED_TOKEN",
        "UNAUTHORIZED",
    ):
        assert responses[kind]["StatusCode"] == "403", kind
        body = json.loads(responses[kind]["ResponseTemplates"]["application/json"])
        assert body == {"error_code": "forbidden", "message": errors.Forbidden.message}
    assert responses["THROTTLED"]["StatusCode"] == "429"


def test_own_stage_throttling_access_logs_and_waf(synth: Synth) -> None:
    api = synth.stack.operator_api
    stage = synth.json["Resources"][synth.logical_id(api.stage)]["Properties"]
    (settings,) = stage["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == 10
    assert settings["ThrottlingBurstLimit"] == 20
    assert settings["DataTraceEnabled"] is False
    log_format = json.loads(stage["AccessLogSetting"]["Format"])
    assert log_format["caller"] == "$context.identity.userArn"
    assert synth.logical_id(api.access_logs) in json.dumps(
        stage["AccessLogSetting"]["DestinationArn"]
    )
    associations = [
        a["Properties"]
        for a in synth.resources("AWS::WAFv2::WebACLAssociation").values()
        if synth.logical_id(api.stage) in json.dumps(a["Properties"]["ResourceArn"])
    ]
    assert len(associations) == 1
    alarms = {
        a["Properties"].get("AlarmName", logical_id): a["Properties"]
        for logical_id, a in synth.resources("AWS::CloudWatch::Alarm").items()
    }
    operator_alarms = [
        props
        for props in alarms.values()
        if any(
            d.get("Value") == {"Ref": synth.logical_id(api.rest_api)}
            or d.get("Value") == f"{synth.stack.stack_name}-operators"
            for d in props.get("Dimensions", [])
        )
    ]
    assert {a["MetricName"] for a in operator_alarms} >= {"5XXError", "4XXError"}
