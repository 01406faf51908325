"""The audit job in the template: its function, schedule, least-privilege role, the alarm on any
mismatch, the liability dashboard, and the grants operator functions get from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from giftcard import metric_names
from giftcard.items import audit_item
from giftcard.writes import StoredAudit
from infra.audit import AUDIT_ATTRIBUTES, AuditJob
from infra.config import StackConfig, config_from_context
from infra.layer import RUNTIME
from infra.storage import Storage
from tests.infra.conftest import Synth


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements_of(synth: Synth, role: Any) -> list[dict[str, Any]]:
    role_id = synth.logical_id(role)
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_audit_function_runs_long_with_a_full_vcpu_and_no_secrets(synth: Synth) -> None:
    job = synth.stack.audit
    props = synth.json["Resources"][synth.logical_id(job.function)]["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Handler"] == "handler.lambda_handler"
    assert props["Timeout"] == 900
    assert props["MemorySize"] == 1769
    assert props["Layers"] == [{"Ref": synth.logical_id(synth.stack.layer.layer)}]
    env = props["Environment"]["Variables"]
    assert env["TABLE_NAME"] == {"Ref": synth.logical_id(synth.stack.storage.table)}
    assert env["AUDIT_SEGMENTS"] == "4"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "GiftCards"
    # it needs no key material: card ids are the stored lookups
    assert "KEYS_SECRET_ID" not in env and "API_KEYS_SECRET_ID" not in env
    log_group = synth.json["Resources"][synth.logical_id(job.log_group)]
    assert log_group["Properties"]["RetentionInDays"] == 90


def test_it_runs_nightly_on_its_schedule(synth: Synth) -> None:
    job = synth.stack.audit
    rule = synth.json["Resources"][synth.logical_id(job.schedule)]["Properties"]
    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [synth.logical_id(job.function), "Arn"]}


def test_the_schedule_is_configurable_and_checked() -> None:
    config = config_from_context({"audit_schedule": "rate(12 hours)", "audit_segments": "8"})
    assert (config.audit_schedule, config.audit_segments) == ("rate(12 hours)", 8)
    for bad in (
        {"audit_schedule": "nightly"},
        {"audit_segments": 0},
        {"audit_timeout_seconds": 901},
    ):
        with pytest.raises(ValueError):
            config_from_context(bad)


def test_its_role_scans_writes_only_audits_and_publishes_only_its_namespace(synth: Synth) -> None:
    job = synth.stack.audit
    statements = statements_of(synth, job.role)
    table_arn = {"Fn::GetAtt": [synth.logical_id(synth.stack.storage.table), "Arn"]}
    by_action = {action: s for s in statements for action in _as_list(s["Action"])}
    assert set(by_action) == {
        "dynamodb:Scan",
        "dynamodb:PutItem",
        "cloudwatch:PutMetricData",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    assert by_action["dynamodb:Scan"]["Resource"] == table_arn
    put = by_action["dynamodb:PutItem"]
    assert put["Resource"] == table_arn
    assert put["Condition"] == {
        "ForAllValues:StringEquals": {
            "dynamodb:LeadingKeys": ["AUDIT"],
            "dynamodb:Attributes": sorted(AUDIT_ATTRIBUTES),
        }
    }
    metrics = by_action["cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "GiftCards"}}
    assert "secretsmanager" not in json.dumps(statements)


def test_the_writable_attributes_are_exactly_a_kept_audits() -> None:
    item = audit_item(StoredAudit("audit-1", "2027-01-15T08:00:00Z", "x", 1, 0, "{}"))
    assert sorted(item) == sorted(AUDIT_ATTRIBUTES)
    assert item["PK"] == "AUDIT"


def alarm(synth: Synth, construct: Any) -> dict[str, Any]:
    return dict(synth.json["Resources"][synth.logical_id(construct)]["Properties"])


def test_any_mismatch_alarms_to_the_topic(synth: Synth) -> None:
    props = alarm(synth, synth.stack.audit.mismatch_alarm)
    topic = {"Ref": synth.logical_id(synth.stack.monitoring.topic)}
    assert props["Namespace"] == "GiftCards"
    assert props["MetricName"] == metric_names.AUDIT_MISMATCHES
    # (the stack dimension keeps dev's and prod's audits apart in one account)
    assert props["Dimensions"] == [
        {"Name": "service", "Value": "giftcard"},
        {"Name": "stack", "Value": synth.stack.stack_name},
    ]
    assert (props["Statistic"], props["Period"]) == ("Maximum", 86400)
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["AlarmActions"] == [topic] and props["OKActions"] == [topic]
    errors = alarm(synth, synth.stack.audit.errors_alarm)
    assert errors["MetricName"] == "Errors"
    assert errors["Dimensions"][0]["Value"] == {"Ref": synth.logical_id(synth.stack.audit.function)}
    assert errors["AlarmActions"] == [topic]


def test_the_dashboard_graphs_liability_per_currency_over_time(synth: Synth) -> None:
    body = json.dumps(
        synth.json["Resources"][synth.logical_id(synth.stack.audit.dashboard)]["Properties"][
            "DashboardBody"
        ]
    )
    assert "SEARCH(" in body
    assert metric_names.AUDIT_OUTSTANDING in body and "currency" in body
    assert metric_names.AUDIT_MISMATCHES in body and metric_names.AUDIT_CARDS_CHECKED in body


def test_the_stack_outputs_the_audit_function(synth: Synth) -> None:
    output = synth.json["Outputs"]["AuditFunctionName"]
    assert output["Value"] == {"Ref": synth.logical_id(synth.stack.audit.function)}


def test_operator_functions_get_run_and_read_grants(stub_assets: dict[str, str]) -> None:
    # Given the job in a small stack with one operator function granted both
    stack = Stack(App(), "Probe")
    functions = Path(stub_assets["functions_dir"])
    config = StackConfig(
        functions_dir=functions, layer_asset_dir=Path(stub_assets["layer_asset_dir"])
    )
    storage = Storage(stack, "Storage")
    layer = lambda_.LayerVersion(
        stack, "Layer", code=lambda_.Code.from_asset(stub_assets["layer_asset_dir"])
    )
    job = AuditJob(
        stack,
        "Audit",
        config=config,
        storage=storage,
        layer=layer,
        alarm_topic=sns.Topic(stack, "Topic"),
    )
    operator = lambda_.Function(
        stack,
        "Operator",
        runtime=RUNTIME,
        handler="handler.lambda_handler",
        code=lambda_.Code.from_asset(str(functions / "route")),
    )
    job.grant_run(operator)
    job.grant_read(operator)
    template = Template.from_stack(stack).to_json()
    # Then it may invoke the job, knows its name, and may Query only the AUDIT partition
    audit_fn = stack.get_logical_id(job.function.node.default_child)  # type: ignore[arg-type]
    props = template["Resources"][stack.get_logical_id(operator.node.default_child)]["Properties"]  # type: ignore[arg-type]
    assert props["Environment"]["Variables"]["AUDIT_FUNCTION_NAME"] == {"Ref": audit_fn}
    role = stack.get_logical_id(operator.role.node.default_child)  # type: ignore[union-attr, arg-type]
    statements = [
        s
        for p in template["Resources"].values()
        if p["Type"] == "AWS::IAM::Policy" and {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    invoke = next(s for s in statements if "lambda:InvokeFunction" in _as_list(s["Action"]))
    # the job itself, not its versions
    assert _as_list(invoke["Resource"]) == [{"Fn::GetAtt": [audit_fn, "Arn"]}]
    query = next(s for s in statements if s["Action"] == "dynamodb:Query")
    assert query["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["AUDIT"]}}


def test_the_stack_grants_the_audit_routes_from_the_registry(synth: Synth) -> None:
    # The route registry's Access says which operator routes start the job or read audits
    by_name = synth.stack.functions.by_name
    run = synth.json["Resources"][synth.logical_id(by_name["admin_audit_run"].function)]
    audit_fn = synth.logical_id(synth.stack.audit.function)
    assert run["Properties"]["Environment"]["Variables"]["AUDIT_FUNCTION_NAME"] == {"Ref": audit_fn}
    for name, construct in by_name.items():
        env = synth.json["Resources"][synth.logical_id(construct.function)]["Properties"][
            "Environment"
        ]["Variables"]
        assert ("AUDIT_FUNCTION_NAME" in env) == (name == "admin_audit_run"), name
