"""Functions: runtime, packaging, environment, schedule, and least-privilege roles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.functions import FUNCTIONS, TRANSACT_ACTIONS
from infra.layer import shipped_files
from tests.infra.conftest import Synth

EXPECTED_TABLE_ACTIONS: dict[str, set[str]] = {
    "balance": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    **{
        name: {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:ConditionCheckItem",
        }
        for name in (
            "issue",
            "activate",
            "deactivate",
            "instrument_create",
            "instrument_capture",
            "instrument_refund",
            "instrument_revoke",
            "reservation_expiry",
        )
    },
    "authorizer": set(),
    # The back office (table actions; index queries below)
    "admin_card_lookup": {"dynamodb:Query"},
    "admin_card_history": {"dynamodb:GetItem", "dynamodb:Query"},
    **{
        name: {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}
        for name in (
            "admin_card_freeze",
            "admin_card_unfreeze",
            "admin_card_unlock_pin",
            "admin_card_expiry",
        )
    },
    "admin_card_adjust": {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
    },
    "admin_customer_cards": {"dynamodb:Query"},
    "admin_customer_erase": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
    # The reports: Query on the kept audits' partition only (its condition is checked below)
    "admin_audit_latest": {"dynamodb:Query"},
    "admin_report_liability": {"dynamodb:Query"},
    "admin_report_dormancy": {"dynamodb:Query"},
    # The on-demand audit only starts the job (which alone may Scan: tests/infra/test_audit.py)
    "admin_audit_run": set(),
}
#: Actions beyond the table, secrets, logs and X-Ray.
EXPECTED_OTHER_ACTIONS = {"admin_audit_run": {"lambda:InvokeFunction"}}
#: Functions that Query an index (and which): nobody else may.
EXPECTED_INDEX_QUERIES = {
    "reservation_expiry": "open-reservations",
    "admin_customer_cards": "customers",
    "admin_customer_erase": "customers",
}
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
FAILURE_QUEUE_ACTIONS = {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(synth: Synth, name: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the function's role."""
    role_id = synth.logical_id(synth.stack.functions.by_name[name].role)
    statements = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        props = policy["Properties"]
        if {"Ref": role_id} in props["Roles"]:
            statements += props["PolicyDocument"]["Statement"]
    role = synth.json["Resources"][role_id]["Properties"]
    statements += [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    return statements


def actions_on(statements: list[dict[str, Any]], prefix: str) -> set[str]:
    return {
        action for s in statements for action in _as_list(s["Action"]) if action.startswith(prefix)
    }


def test_the_function_list_covers_every_expected_function() -> None:
    assert {spec.name for spec in FUNCTIONS} == set(EXPECTED_TABLE_ACTIONS)
    # A transaction writes with Put/Update/ConditionCheck per item: all three must be granted.
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"} <= set(
        TRANSACT_ACTIONS
    )


@pytest.mark.parametrize("name", sorted(EXPECTED_TABLE_ACTIONS))
def test_each_role_holds_exactly_its_own_grants(synth: Synth, name: str) -> None:
    statements = role_statements(synth, name)
    table_arn = {"Fn::GetAtt": [synth.logical_id(synth.stack.storage.table), "Arn"]}
    secrets = synth.stack.secrets
    api_keys = {"Ref": synth.logical_id(secrets.api_keys)}
    key_material = {"Ref": synth.logical_id(secrets.key_material)}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{name}: wildcard action {action}"
        resources = _as_list(statement["Resource"])
        if "*" in resources:
            # Only X-Ray, which has no resource-level permissions.
            assert set(_as_list(statement["Action"])) <= XRAY_ACTIONS, statement

    # DynamoDB: exactly the expected actions on the table, and Query on its one index if any
    # one statement per resource (CDK may merge a table and an index statement with equal actions)
    dynamo = [
        {**s, "Resource": [resource]}
        for s in statements
        if actions_on([s], "dynamodb:")
        for resource in _as_list(s["Resource"])
    ]
    on_table = [s for s in dynamo if s["Resource"] == [table_arn]]
    on_index = [s for s in dynamo if s not in on_table]
    assert actions_on(on_table, "dynamodb:") == EXPECTED_TABLE_ACTIONS[name]
    if name in ("admin_audit_latest", "admin_report_liability", "admin_report_dormancy"):
        # the reports may read the kept audits and nothing else of the table
        (statement,) = on_table
        assert statement["Condition"] == {
            "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["AUDIT"]}
        }
    if name in EXPECTED_INDEX_QUERIES:
        (statement,) = on_index
        assert _as_list(statement["Action"]) == ["dynamodb:Query"]
        (resource,) = _as_list(statement["Resource"])
        assert json.dumps(resource).endswith(f'"/index/{EXPECTED_INDEX_QUERIES[name]}"]]}}')
    else:
        assert on_index == []

    # Secrets: GetSecretValue on the one secret the function needs, nothing else
    secret_statements = [s for s in statements if actions_on([s], "secretsmanager:")]
    assert actions_on(statements, "secretsmanager:") == {"secretsmanager:GetSecretValue"}
    (secret_resource,) = [r for s in secret_statements for r in _as_list(s["Resource"])]
    assert secret_resource == (api_keys if name == "authorizer" else key_material)

    # Logs: its own log group only; tracing: X-Ray
    log_group = synth.logical_id(synth.stack.functions.by_name[name].log_group)
    for statement in statements:
        if actions_on([statement], "logs:"):
            assert _as_list(statement["Resource"]) == [{"Fn::GetAtt": [log_group, "Arn"]}]
    assert actions_on(statements, "logs:") == LOG_ACTIONS
    assert actions_on(statements, "xray:") == XRAY_ACTIONS
    # The expiry job may send its failed runs to its own failure queue (infra/async_failures.py)
    queue = synth.logical_id(synth.stack.expiry_failures.queue)
    for statement in statements:
        if actions_on([statement], "sqs:"):
            assert _as_list(statement["Resource"]) == [{"Fn::GetAtt": [queue, "Arn"]}]
    sends = FAILURE_QUEUE_ACTIONS if name == "reservation_expiry" else set()
    every_action = {a for s in statements for a in _as_list(s["Action"])}
    index_query = {"dynamodb:Query"} if name in EXPECTED_INDEX_QUERIES else set()
    assert every_action == (
        EXPECTED_TABLE_ACTIONS[name]
        | EXPECTED_OTHER_ACTIONS.get(name, set())
        | index_query
        | {"secretsmanager:GetSecretValue"}
        | LOG_ACTIONS
        | XRAY_ACTIONS
        | sends
    )


def test_no_role_can_delete_or_scan_and_none_uses_managed_policies(synth: Synth) -> None:
    text = json.dumps(synth.json)
    assert "dynamodb:DeleteItem" not in text
    assert "dynamodb:*" not in text
    # only the audit job scans (tests/infra/test_audit.py)
    scanners = [
        policy["Properties"]["Roles"]
        for policy in synth.resources("AWS::IAM::Policy").values()
        if "dynamodb:Scan" in json.dumps(policy)
    ]
    assert scanners == [[{"Ref": synth.logical_id(synth.stack.audit.role)}]]
    for name, construct in synth.stack.functions.by_name.items():
        role = synth.json["Resources"][synth.logical_id(construct.role)]["Properties"]
        assert "ManagedPolicyArns" not in role, name


def test_without_tracing_no_role_gets_xray(configured: Synth) -> None:
    for spec in FUNCTIONS:
        assert actions_on(role_statements(configured, spec.name), "xray:") == set()


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.name)
def test_function_runtime_packaging_and_environment(synth: Synth, spec: Any) -> None:
    construct = synth.stack.functions.by_name[spec.name]
    props = synth.json["Resources"][synth.logical_id(construct.function)]["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "handler.lambda_handler"
    assert props["MemorySize"] == 512
    assert props["Timeout"] == (60 if spec.name == "reservation_expiry" else 10)
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Role"] == {"Fn::GetAtt": [synth.logical_id(construct.role), "Arn"]}
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": synth.logical_id(construct.log_group)}
    assert props["Layers"] == [{"Ref": synth.logical_id(synth.stack.layer.layer)}]
    # Only its own folder is the asset
    assert construct.function.node.default_child is not None
    assert (
        props["Code"]["S3Key"]
        != synth.json["Resources"][synth.logical_id(synth.stack.layer.layer)]["Properties"][
            "Content"
        ]["S3Key"]
    )
    env = props["Environment"]["Variables"]
    # A route's Lambda runs functions/route, told by GIFTCARD_ROUTE which route it serves.
    assert env.get("GIFTCARD_ROUTE") == (spec.name if spec.route is not None else None)
    assert env["TABLE_NAME"] == {"Ref": synth.logical_id(synth.stack.storage.table)}
    assert env["KEYS_SECRET_ID"] == {"Ref": synth.logical_id(synth.stack.secrets.key_material)}
    assert env["API_KEYS_SECRET_ID"] == {"Ref": synth.logical_id(synth.stack.secrets.api_keys)}
    assert env["API_KEY_HEADER"] == "Authorization"
    assert env["MAX_BODY_BYTES"] == "65536"
    assert env["POWERTOOLS_SERVICE_NAME"] == "giftcard"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "GiftCards"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "false"
    # Service settings not given in context are left to the code's defaults
    assert "CARD_NUMBER_PREFIX" not in env
    assert "PIN_MAX_FAILURES" not in env
    log_group = synth.json["Resources"][synth.logical_id(construct.log_group)]
    assert log_group["Properties"]["RetentionInDays"] == 90


def test_each_function_asset_is_only_its_own_folder(synth: Synth) -> None:
    outdir = synth.template_path.parent
    for spec in FUNCTIONS:
        construct = synth.stack.functions.by_name[spec.name]
        props = synth.json["Resources"][synth.logical_id(construct.function)]["Properties"]
        asset = outdir / f"asset.{props['Code']['S3Key'].removesuffix('.zip')}"
        assert sorted(p.name for p in asset.iterdir()) == ["handler.py"]
        assert (asset / "handler.py").read_text().startswith(f"# {spec.asset}\n")


def test_service_settings_from_context_reach_every_function(configured: Synth) -> None:
    for construct in configured.stack.functions.by_name.values():
        props = configured.json["Resources"][configured.logical_id(construct.function)]
        env = props["Properties"]["Environment"]["Variables"]
        assert env["ISSUED_CARDS_NEED_ACTIVATION"] == "true"
        assert env["CARD_NUMBER_PREFIX"] == "6006"
        assert env["PIN_MAX_FAILURES"] == "3"
        assert env["ACCEPTED_CURRENCIES"] == "USD,EUR"
        assert env["MAX_CARD_BALANCE_BY_CURRENCY"] == "USD=500,EUR=450"
        assert env["API_KEY_HEADER"] == "X-Api-Key"
        assert env["MAX_BODY_BYTES"] == "16384"
        assert env["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
        assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
        assert props["Properties"]["MemorySize"] == 1024
        assert "TracingConfig" not in props["Properties"] or props["Properties"][
            "TracingConfig"
        ] == {"Mode": "PassThrough"}


def test_issuance_settings_reach_only_issue_and_activate(configured: Synth) -> None:
    for name, construct in configured.stack.functions.by_name.items():
        props = configured.json["Resources"][configured.logical_id(construct.function)]
        env = props["Properties"]["Environment"]["Variables"]
        issuance = {k: v for k, v in env.items() if k.startswith("ISSUANCE_")}
        if name in ("issue", "activate"):
            assert issuance == {
                "ISSUANCE_CEILING_FACTOR": "50",
                "ISSUANCE_CEILING_BY_CURRENCY": "USD=20000",
                "ISSUANCE_ALERT_FRACTION": "0.9",
            }
        else:
            assert issuance == {}, name


def test_reservation_expiry_runs_every_15_minutes(synth: Synth) -> None:
    expiry = synth.logical_id(synth.stack.functions.reservation_expiry)
    (rule,) = [
        r["Properties"]
        for r in synth.resources("AWS::Events::Rule").values()
        if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [expiry, "Arn"]}
    ]
    assert rule["ScheduleExpression"] == "rate(15 minutes)"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [expiry, "Arn"]}


def test_the_layer_asset_ships_the_runtimes_bytecode(synth: Synth) -> None:
    # Given the layer directory `make build` leaves (stub: one module, its cpython-313 bytecode,
    # and a cpython-311 file a host interpreter could have written)
    (layer_id,) = synth.resources("AWS::Lambda::LayerVersion")
    key = synth.json["Resources"][layer_id]["Properties"]["Content"]["S3Key"]
    asset = synth.template_path.parent / f"asset.{key.removesuffix('.zip')}"
    # When CDK stages it as the deployed asset
    shipped = sorted(str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file())
    # Then the runtime's bytecode is in it (without it every cold start compiles the layer)
    assert shipped == [
        "python/giftcard/__init__.py",
        "python/giftcard/__pycache__/__init__.cpython-313.pyc",
    ]
    # And it is exactly what infra.layer.shipped_files (which the bench measures) says
    source = synth.stack.config.layer_asset_dir
    assert [str(p.relative_to(source)) for p in shipped_files(source)] == shipped


def test_the_expiry_job_is_not_retried_and_its_failures_are_kept(synth: Synth) -> None:
    # Given the expiry job's asynchronous invoke configuration
    expiry = synth.logical_id(synth.stack.functions.reservation_expiry)
    (config,) = [
        r["Properties"]
        for r in synth.resources("AWS::Lambda::EventInvokeConfig").values()
        if r["Properties"]["FunctionName"] == {"Ref": expiry}
    ]
    # Then Lambda does not retry a failed run (the next scheduled run repeats it) ...
    assert config["MaximumRetryAttempts"] == 0
    # ... and the failed event goes to an encrypted, TLS-only queue kept 14 days
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    queue_id = destination["Fn::GetAtt"][0]
    assert destination == {"Fn::GetAtt": [queue_id, "Arn"]}
    queue = synth.resources("AWS::SQS::Queue")[queue_id]
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    (policy,) = [
        p
        for p in synth.resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # And only the expiry job may send to it
    senders = [
        statement
        for statement in role_statements(synth, "reservation_expiry")
        if "sqs:SendMessage" in _as_list(statement["Action"])
    ]
    assert senders
