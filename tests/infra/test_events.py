"""Events out in the template: the table's stream, the bus and its archive, the publisher's event
source (partial batch failures, bisect, bounded retries, dead-letter destination), its one
permission on the bus, and the dead-letter queue's alarm."""

from __future__ import annotations

import json
from typing import Any

from giftcard import events as event_model
from giftcard import table as schema
from infra import events as construct
from tests.infra.conftest import Synth
from tests.infra.test_functions import _as_list, role_statements


def only(synth: Synth, cfn_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = synth.resources(cfn_type).items()
    return logical_id, resource


def arn_of(synth: Synth, construct_: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [synth.logical_id(construct_), "Arn"]}


def publisher_statements(synth: Synth) -> list[dict[str, Any]]:
    role_id = synth.logical_id(synth.stack.events.publisher.role)
    statements: list[dict[str, Any]] = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_the_table_streams_new_images(synth: Synth) -> None:
    _, table = only(synth, "AWS::DynamoDB::Table")
    assert table["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    # the same view the local run turns on in moto
    assert schema.stream_specification()["StreamViewType"] == "NEW_IMAGE"


def test_the_bus_has_an_archive_of_every_gift_card_event(synth: Synth) -> None:
    bus_id, _ = only(synth, "AWS::Events::EventBus")
    _, archive = only(synth, "AWS::Events::Archive")
    props = archive["Properties"]
    assert props["SourceArn"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    assert props["EventPattern"] == {"source": [event_model.SOURCE]}
    assert props["RetentionDays"] == 365
    # the stack tells consumers which bus to subscribe to
    assert synth.json["Outputs"]["EventBusName"]["Value"] == {"Ref": bus_id}


def test_the_publisher_reads_the_stream_with_partial_batch_failures(synth: Synth) -> None:
    table_id = synth.logical_id(synth.stack.storage.table)
    _, mapping = only(synth, "AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert props["FunctionName"] == {"Ref": synth.logical_id(synth.stack.events.publisher.function)}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == construct.RETRY_ATTEMPTS == 10
    assert props["MaximumRecordAgeInSeconds"] == 6 * 3600
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props.get("ParallelizationFactor", 1) == 1  # one batch per shard at a time: in order
    # what it gives up on is described in the dead-letter queue
    dlq = arn_of(synth, synth.stack.events.dead_letter_queue)
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": dlq}}
    # only new ledger entries invoke it
    (pattern,) = [json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"]]
    assert pattern == {
        "eventName": ["INSERT"],
        "dynamodb": {"Keys": {"SK": {"S": [{"prefix": "ENTRY#"}]}}},
    }


def test_the_publisher_may_put_events_on_its_bus_and_nothing_else(synth: Synth) -> None:
    statements = publisher_statements(synth)
    bus = arn_of(synth, synth.stack.events.bus)
    table_id = synth.logical_id(synth.stack.storage.table)
    granted: dict[str, list[Any]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            granted.setdefault(action, []).extend(_as_list(statement["Resource"]))
    assert granted.pop("events:PutEvents") == [bus]
    stream = {"Fn::GetAtt": [table_id, "StreamArn"]}
    for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"):
        assert granted.pop(action) == [stream]
    assert granted.pop("dynamodb:ListStreams") == ["*"]  # no resource-level permission exists
    dlq = arn_of(synth, synth.stack.events.dead_letter_queue)
    for action in ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"):
        assert granted.pop(action) == [dlq]
    log_group = arn_of(synth, synth.stack.events.publisher.log_group)
    assert granted.pop("logs:CreateLogStream") == [log_group]
    assert granted.pop("logs:PutLogEvents") == [log_group]
    assert set(granted) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    # no secret, no table item, no other bus
    env = synth.json["Resources"][synth.logical_id(synth.stack.events.publisher.function)][
        "Properties"
    ]["Environment"]["Variables"]
    assert env["EVENT_BUS_NAME"] == {"Ref": synth.logical_id(synth.stack.events.bus)}
    assert "KEYS_SECRET_ID" not in env and "TABLE_NAME" not in env


def test_no_webhook_function_can_put_events(synth: Synth) -> None:
    for name in synth.stack.functions.by_name:
        actions = {a for s in role_statements(synth, name) for a in _as_list(s["Action"])}
        assert not any(action.startswith("events:") for action in actions), name


def test_the_dead_letter_queue_is_encrypted_tls_only_and_alarms(synth: Synth) -> None:
    queue = synth.stack.events.dead_letter_queue
    queue_id = synth.logical_id(queue)
    props = synth.json["Resources"][queue_id]["Properties"]
    assert props["SqsManagedSseEnabled"] is True
    assert props["MessageRetentionPeriod"] == 14 * 86400
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in synth.resources("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    assert {
        "Effect": "Deny",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }.items() <= policy["Statement"][0].items()

    topic_id, _ = only(synth, "AWS::SNS::Topic")
    alarm_props = [r["Properties"] for r in synth.resources("AWS::CloudWatch::Alarm").values()]
    (dead_lettered,) = [
        p
        for p in alarm_props
        if p.get("Namespace") == "AWS/SQS"
        and p["Dimensions"]
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    ]
    assert dead_lettered["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert dead_lettered["Threshold"] == 1
    assert dead_lettered["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert dead_lettered["AlarmActions"] == [{"Ref": topic_id}]


def test_the_publisher_alarms_on_errors_and_on_falling_behind(synth: Synth) -> None:
    function = {"Ref": synth.logical_id(synth.stack.events.publisher.function)}
    topic_id, _ = only(synth, "AWS::SNS::Topic")
    mine = {
        p["MetricName"]: p
        for p in (r["Properties"] for r in synth.resources("AWS::CloudWatch::Alarm").values())
        if p.get("Dimensions") == [{"Name": "FunctionName", "Value": function}]
    }
    assert set(mine) == {"Errors", "IteratorAge"}
    assert mine["IteratorAge"]["Statistic"] == "Maximum"
    assert mine["IteratorAge"]["Threshold"] == 15 * 60 * 1000
    assert all(p["AlarmActions"] == [{"Ref": topic_id}] for p in mine.values())
