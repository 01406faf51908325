"""The optional production extras: each off by default, each as documented when switched on
(the prod fixture switches every one on: custom domain, backup, WAF logging, tracer, dashboard,
canary)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import config_from_context
from infra.functions import FUNCTIONS
from tests.infra.conftest import Synth


def only(synth: Synth, cfn_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = synth.resources(cfn_type).items()
    return logical_id, resource


def service_environments(synth: Synth) -> list[dict[str, Any]]:
    functions = synth.resources("AWS::Lambda::Function")
    return [
        functions[synth.logical_id(f.function)]["Properties"]["Environment"]["Variables"]
        for f in synth.stack.functions.by_name.values()
    ]


def test_every_extra_is_off_by_default(synth: Synth) -> None:
    for cfn_type in (
        "AWS::ApiGateway::DomainName",
        "AWS::CertificateManager::Certificate",
        "AWS::Backup::BackupPlan",
        "AWS::WAFv2::LoggingConfiguration",
    ):
        assert synth.resources(cfn_type) == {}, cfn_type
    # The operations dashboard is an extra; finance's liability dashboard (the audit's) is not
    assert list(synth.resources("AWS::CloudWatch::Dashboard")) == [
        synth.logical_id(synth.stack.audit.dashboard)
    ]
    # no canary: the route, authorizer and expiry functions, the audit job and the publisher
    assert len(synth.resources("AWS::Lambda::Function")) == len(FUNCTIONS) + 2
    assert all("TRACE_AWS_CALLS" not in env for env in service_environments(synth))
    api = synth.json["Resources"][synth.logical_id(synth.stack.api.rest_api)]
    assert not api["Properties"].get("DisableExecuteApiEndpoint", False)


def test_custom_domain_has_tls12_and_turns_the_default_endpoint_off(prod: Synth) -> None:
    domain_id, domain = only(prod, "AWS::ApiGateway::DomainName")
    props = domain["Properties"]
    assert props["DomainName"] == "giftcards.example.com"
    assert props["SecurityPolicy"] == "TLS_1_2"
    assert props["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    cert_id, cert = only(prod, "AWS::CertificateManager::Certificate")
    assert props["RegionalCertificateArn"] == {"Ref": cert_id}
    assert cert["Properties"]["ValidationMethod"] == "DNS"
    assert cert["Properties"]["DomainValidationOptions"][0]["HostedZoneId"] == (
        "Z0123456789ABCDEFGHIJ"
    )
    # The stage under its own name, so the URL keeps its shape
    _, mapping = only(prod, "AWS::ApiGateway::BasePathMapping")
    assert mapping["Properties"]["BasePath"] == "v1"
    assert mapping["Properties"]["DomainName"] == {"Ref": domain_id}
    # The execute-api URL is off: no request goes around the domain's TLS policy (NewStore's
    # API; the operator API keeps its own execute-api URL, signed with SigV4)
    api = prod.json["Resources"][prod.logical_id(prod.stack.api.rest_api)]
    assert api["Properties"]["DisableExecuteApiEndpoint"] is True
    _, record = only(prod, "AWS::Route53::RecordSet")
    assert record["Properties"]["Type"] == "A"
    assert prod.json["Outputs"]["ApiUrl"]["Value"] == "https://giftcards.example.com/v1/"


def test_backup_plan_backs_up_the_table_daily_and_keeps_the_vault(prod: Synth) -> None:
    _, plan = only(prod, "AWS::Backup::BackupPlan")
    (rule,) = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert rule["Lifecycle"] == {"DeleteAfterDays": 35}
    _, selection = only(prod, "AWS::Backup::BackupSelection")
    table = prod.logical_id(prod.stack.storage.table)
    assert json.dumps({"Fn::GetAtt": [table, "Arn"]}) in json.dumps(selection)
    _, vault = only(prod, "AWS::Backup::BackupVault")
    assert vault["DeletionPolicy"] == "Retain"


def test_waf_logs_go_to_their_group_with_the_api_key_redacted(prod: Synth) -> None:
    acl_id = prod.stack.get_logical_id(prod.stack.waf.web_acl)
    _, logging = only(prod, "AWS::WAFv2::LoggingConfiguration")
    props = logging["Properties"]
    assert props["ResourceArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert props["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}}]
    (destination,) = props["LogDestinationConfigs"]
    (group_id,) = [
        lid
        for lid, r in prod.resources("AWS::Logs::LogGroup").items()
        if r["Properties"].get("LogGroupName") == "aws-waf-logs-GiftCardProvider-prod"
    ]
    assert group_id in json.dumps(destination)
    assert ":*" not in json.dumps(destination)  # WAF refuses the Arn attribute's suffix
    assert prod.json["Resources"][group_id]["Properties"]["RetentionInDays"] == 365


def test_the_tracer_is_switched_on_only_when_asked(synth: Synth, prod: Synth) -> None:
    assert all(env["TRACE_AWS_CALLS"] == "true" for env in service_environments(prod))
    assert all(env["POWERTOOLS_TRACE_DISABLED"] == "false" for env in service_environments(prod))
    with pytest.raises(ValueError, match="needs tracing"):
        config_from_context({"trace_aws_calls": True, "tracing": False})


def test_the_dashboard_shows_what_on_call_needs(prod: Synth) -> None:
    dashboard = prod.json["Resources"][prod.logical_id(prod.stack.dashboard.dashboard)]
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for shown in (
        '\\"Count\\"',  # requests
        "error_code",  # answers by error code
        "errorType",  # API Gateway's own answers by type
        "p50",
        "p90",
        "p99",
        "PinLockouts",
        "PinHardLocks",
        "StorageRetriesExhausted",
        "RateLimitPerIp",
        "Throttles",
        "alarms",
    ):
        assert shown in body, shown
    # the canary's alarm is among the alarms shown
    assert prod.logical_id(prod.stack.canary.alarm) in body


def test_the_canary_asks_for_the_canary_cards_balance_and_alarms(prod: Synth) -> None:
    canary = prod.stack.canary
    assert canary is not None
    function = prod.json["Resources"][prod.logical_id(canary.function)]["Properties"]
    env = function["Environment"]["Variables"]
    assert env["API_URL"] == "https://giftcards.example.com/v1/"
    assert env["CANARY_CARD_SECRET_ID"] == {"Ref": prod.logical_id(canary.card)}
    assert function["Handler"] == "handler.lambda_handler"
    assert "Layers" not in function  # standard library and boto3 only
    (rule,) = [
        r["Properties"]
        for r in prod.resources("AWS::Events::Rule").values()
        if r["Properties"]["Description"] == "gift card provider: canary"
    ]
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    alarm = prod.json["Resources"][prod.logical_id(canary.alarm)]["Properties"]
    assert (alarm["MetricName"], alarm["Namespace"]) == ("Errors", "AWS/Lambda")
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (2, 2)
    assert alarm["TreatMissingData"] == "breaching"  # a canary that stopped proves nothing
    topic_id, _ = only(prod, "AWS::SNS::Topic")
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    # It reads the API key and the canary card, nothing else
    role = prod.logical_id(canary.role)
    read = [
        resource
        for p in prod.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in json.dumps(s["Action"])
        for resource in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    assert sorted(map(json.dumps, read)) == sorted(
        json.dumps({"Ref": prod.logical_id(s)}) for s in (prod.stack.secrets.api_keys, canary.card)
    )
    assert "CanaryCardSecretArn" in prod.json["Outputs"]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"canary": True, "newstore_ip_allowlist": ["203.0.113.10"]}, "canary cannot pass"),
        ({"domain_name": "Not A Domain"}, "DNS name"),
        ({"certificate_arn": "arn:aws:acm:eu-central-1:123456789012:certificate/x"}, "need"),
        ({"hosted_zone_id": "Z1"}, "together"),
    ],
)
def test_extras_refuse_settings_that_cannot_work(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config_from_context(context)
