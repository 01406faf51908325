"""Table, secrets, WAF, monitoring and outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from giftcard import table as schema
from tests.infra.conftest import Synth

#: The custom metrics' dimensions: the service, and the stack (one per deployment).
SERVICE_DIMENSIONS = [
    {"Name": "service", "Value": "giftcard"},
    {"Name": "stack", "Value": "GiftCardProvider"},
]


def only(synth: Synth, cfn_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = synth.resources(cfn_type).items()
    return logical_id, resource


# --- table ---------------------------------------------------------------------------------


def test_table_matches_the_schema_moto_uses(synth: Synth) -> None:
    # Given the schema the local run and the integration tests create on moto
    expected = schema.create_table_kwargs("ignored")
    _, table = only(synth, "AWS::DynamoDB::Table")
    props = table["Properties"]
    # Then the deployed table has the same keys, attribute types and index
    assert props["KeySchema"] == expected["KeySchema"]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        expected["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    indexes = {index["IndexName"]: index for index in props["GlobalSecondaryIndexes"]}
    expected_indexes = {index["IndexName"]: index for index in expected["GlobalSecondaryIndexes"]}
    assert set(indexes) == set(expected_indexes)
    assert set(indexes) == {schema.OPEN_RESERVATIONS_INDEX, schema.CUSTOMERS_INDEX}
    for name, index in indexes.items():
        assert index["KeySchema"] == expected_indexes[name]["KeySchema"]
        # Keys only: the customer index never carries the sealed customer or a balance.
        assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_table_is_protected(synth: Synth) -> None:
    _, table = only(synth, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": schema.TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    # AWS-owned encryption (documented in infra/storage.py): no SSESpecification with a key
    assert "KMSMasterKeyId" not in json.dumps(props)


# --- secrets -------------------------------------------------------------------------------


def test_secrets_are_generated_at_deploy_and_retained(synth: Synth) -> None:
    secrets = {
        logical_id: resource
        for logical_id, resource in synth.resources("AWS::SecretsManager::Secret").items()
    }
    api_keys = secrets[synth.logical_id(synth.stack.secrets.api_keys)]
    key_material = secrets[synth.logical_id(synth.stack.secrets.key_material)]
    assert api_keys["Properties"]["GenerateSecretString"] == {
        "SecretStringTemplate": '{"id":"key-1"}',
        "GenerateStringKey": "key",
        "ExcludePunctuation": True,
        "PasswordLength": 40,
    }
    generated = key_material["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "master"
    assert generated["PasswordLength"] == 64
    for secret in (api_keys, key_material):
        assert secret["DeletionPolicy"] == "Retain"
        assert "SecretString" not in secret["Properties"]  # nothing secret in the template


def test_key_material_is_encrypted_with_its_own_rotating_key(synth: Synth) -> None:
    secrets = synth.stack.secrets
    key_id = synth.logical_id(secrets.key_material_key)
    key = synth.json["Resources"][key_id]
    secret = synth.json["Resources"][synth.logical_id(secrets.key_material)]["Properties"]
    assert secret["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    # The API key secret is not encrypted with it (the authorizer must not read key material).
    api_keys = synth.json["Resources"][synth.logical_id(secrets.api_keys)]["Properties"]
    assert "KmsKeyId" not in api_keys


def test_only_the_key_material_readers_may_decrypt_it(synth: Synth) -> None:
    key_id = synth.logical_id(synth.stack.secrets.key_material_key)
    statements = synth.json["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
    decrypters: list[Any] = []
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if statement["Principal"] == {
            "AWS": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":iam::",
                        {"Ref": "AWS::AccountId"},
                        ":root",
                    ],
                ]
            }
        }:
            continue  # the account's administrators: managing the key (docs/deploy.md, security)
        assert actions == ["kms:Decrypt"] or actions == "kms:Decrypt"
        assert statement["Condition"]["StringEquals"]["kms:ViaService"] == {
            "Fn::Join": ["", ["secretsmanager.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
        }
        principals = statement["Principal"]["AWS"]
        decrypters += principals if isinstance(principals, list) else [principals]
    functions = synth.stack.functions.by_name.values()
    readers = [
        {"Fn::GetAtt": [synth.logical_id(f.role), "Arn"]}
        for f in functions
        if f.spec.access.reads_key_material
    ]
    assert sorted(map(json.dumps, decrypters)) == sorted(map(json.dumps, readers))
    assert len(readers) == len(synth.stack.functions.by_name) - 1  # all but the authorizer
    # No identity policy grants KMS use: the key policy is the one place that decides.
    for policy in synth.resources("AWS::IAM::Policy").values():
        assert "kms:" not in json.dumps(policy["Properties"]["PolicyDocument"])


# --- WAF -----------------------------------------------------------------------------------


def web_acl(synth: Synth) -> dict[str, Any]:
    """The webhook API's web ACL (the operator API has its own: test_operator_api.py)."""
    return synth.json["Resources"][synth.stack.get_logical_id(synth.stack.waf.web_acl)][
        "Properties"
    ]


def rules(synth: Synth) -> dict[str, dict[str, Any]]:
    return {rule["Name"]: rule for rule in web_acl(synth)["Rules"]}


def test_waf_is_associated_with_the_stage(synth: Synth) -> None:
    acl_id = synth.stack.get_logical_id(synth.stack.waf.web_acl)
    props = synth.json["Resources"][synth.stack.get_logical_id(synth.stack.waf.association)][
        "Properties"
    ]
    assert props["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    stage_id = synth.logical_id(synth.stack.api.stage)
    resource_arn = json.dumps(props["ResourceArn"])
    assert stage_id in resource_arn
    assert synth.logical_id(synth.stack.api.rest_api) in resource_arn
    assert web_acl(synth)["Scope"] == "REGIONAL"


def test_waf_blocks_large_bodies_with_413_and_floods_with_429(synth: Synth) -> None:
    acl = web_acl(synth)
    assert acl["DefaultAction"] == {"Allow": {}}
    by_name = rules(synth)
    assert set(by_name) == {
        "RateLimitPerIp",
        "BodyTooLarge",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesCommonRuleSet",
    }
    size = by_name["BodyTooLarge"]
    statement = size["Statement"]["SizeConstraintStatement"]
    assert statement["ComparisonOperator"] == "GT"
    assert statement["Size"] == 65536
    assert statement["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    assert size["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 413
    inspection = acl["AssociationConfig"]["RequestBody"]["API_GATEWAY"]
    assert inspection["DefaultSizeInspectionLimit"] == "KB_64"

    rate = by_name["RateLimitPerIp"]
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == 15000
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert rate["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429

    for rule_name, code in (
        ("BodyTooLarge", "payload_too_large"),
        ("RateLimitPerIp", "rate_limit"),
    ):
        key = by_name[rule_name]["Action"]["Block"]["CustomResponse"]["CustomResponseBodyKey"]
        body = acl["CustomResponseBodies"][key]
        assert body["ContentType"] == "APPLICATION_JSON"
        assert json.loads(body["Content"])["error_code"] == code

    # The common rule set's 8 KB body rule would undercut the contract's 64 KiB limit
    common = by_name["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    overridden = {o["Name"]: o["ActionToUse"] for o in common["RuleActionOverrides"]}
    assert overridden["SizeRestrictions_BODY"] == {"Count": {}}


def test_waf_allow_list_blocks_everyone_else(configured: Synth) -> None:
    acl = web_acl(configured)
    by_name = rules(configured)
    assert "AWSManagedRulesCommonRuleSet" not in by_name  # waf_common_rules=false
    ip_sets = configured.resources("AWS::WAFv2::IPSet")
    addresses = {
        r["Properties"]["IPAddressVersion"]: r["Properties"]["Addresses"] for r in ip_sets.values()
    }
    assert addresses == {"IPV4": ["203.0.113.10/32", "198.51.100.0/24"], "IPV6": ["2001:db8::/64"]}
    block = by_name["BlockNotFromNewStore"]
    assert block["Priority"] < by_name["RateLimitPerIp"]["Priority"]
    assert block["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 403
    negated = block["Statement"]["NotStatement"]["Statement"]["OrStatement"]["Statements"]
    referenced = {json.dumps(s["IPSetReferenceStatement"]["Arn"]) for s in negated}
    assert referenced == {json.dumps({"Fn::GetAtt": [lid, "Arn"]}) for lid in ip_sets}
    assert by_name["RateLimitPerIp"]["Statement"]["RateBasedStatement"]["Limit"] == 3000
    assert by_name["BodyTooLarge"]["Statement"]["SizeConstraintStatement"]["Size"] == 16384
    assert acl["AssociationConfig"]["RequestBody"]["API_GATEWAY"] == {
        "DefaultSizeInspectionLimit": "KB_16"
    }


def test_without_allow_list_there_is_no_ip_rule(synth: Synth) -> None:
    assert synth.resources("AWS::WAFv2::IPSet") == {}
    assert "BlockNotFromNewStore" not in rules(synth)


# --- monitoring ----------------------------------------------------------------------------


def alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    return {lid: r["Properties"] for lid, r in synth.resources("AWS::CloudWatch::Alarm").items()}


def test_alarms_cover_api_functions_table_and_pin_lockouts(synth: Synth) -> None:
    found = alarms(synth)
    functions = synth.stack.functions.by_name
    # 2 API + 2 per function + expiry job not running + 2 table + 2 PIN lockouts + the 4 of
    # test_hardening_alarms + events out's (tests/infra/test_events.py) + the operator API's 2
    # (test_operator_api.py) + the audit's 2 (tests/infra/test_audit.py)
    events_out = len(synth.stack.events.alarms)
    assert len(found) == 2 + 2 * len(functions) + 1 + 2 + 2 + 4 + events_out + 2 + 2
    publisher = json.dumps({"Ref": synth.logical_id(synth.stack.events.publisher.function)})
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for props in found.values():
        by_metric.setdefault(props.get("MetricName", "expression"), []).append(props)

    webhook_api = f"{synth.stack.stack_name}-webhooks"
    (api_5xx,) = [p for p in by_metric["5XXError"] if p["Dimensions"][0]["Value"] == webhook_api]
    assert api_5xx["Namespace"] == "AWS/ApiGateway"
    (latency,) = by_metric["Latency"]
    assert latency["ExtendedStatistic"] == "p99"
    assert latency["Threshold"] == 2000

    audit = {json.dumps({"Ref": synth.logical_id(synth.stack.audit.function)})}
    for metric in ("Errors", "Throttles"):
        dimensioned = {json.dumps(p["Dimensions"][0]["Value"]) for p in by_metric[metric]}
        assert dimensioned - {publisher} == {
            json.dumps({"Ref": synth.logical_id(f.function)}) for f in functions.values()
        } | (audit if metric == "Errors" else set())
    expiry = json.dumps({"Ref": synth.logical_id(synth.stack.functions.reservation_expiry)})
    (not_running,) = by_metric["Invocations"]
    assert json.dumps(not_running["Dimensions"][0]["Value"]) == expiry
    assert not_running["TreatMissingData"] == "breaching"

    pin = next(p for p in by_metric["PinLockouts"] if p["Period"] == 300)
    assert pin["Namespace"] == "GiftCards"
    assert pin["Dimensions"] == SERVICE_DIMENSIONS
    assert pin["Threshold"] == 10

    table_metrics = json.dumps(by_metric["expression"])
    assert "ReadThrottleEvents" in table_metrics
    assert "WriteThrottleEvents" in table_metrics
    assert "SystemErrors" in table_metrics
    assert len(by_metric["expression"]) == 2


@pytest.mark.parametrize(
    ("metric", "period", "threshold"),
    [
        # slow, patient PIN guessing: lockouts summed over an hour (the spike alarm is 5 minutes)
        ("PinLockouts", 3600, 20),
        # any card hard-locked in a day
        ("PinHardLocks", 86400, 1),
        ("IdempotencyKeyReused", 900, 1),
        ("IssuanceLimitReached", 300, 1),
        ("IssuanceCeilingNear", 300, 1),
    ],
)
def test_hardening_alarms(synth: Synth, metric: str, period: int, threshold: int) -> None:
    topic_id, _ = only(synth, "AWS::SNS::Topic")
    matching = [
        props
        for props in alarms(synth).values()
        if props.get("MetricName") == metric and props["Period"] == period
    ]
    (props,) = matching
    assert props["Namespace"] == "GiftCards"
    assert props["Dimensions"] == SERVICE_DIMENSIONS
    assert props["Statistic"] == "Sum"
    assert props["Threshold"] == threshold
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["EvaluationPeriods"] == 1
    assert props["TreatMissingData"] == "notBreaching"
    assert props["AlarmActions"] == [{"Ref": topic_id}]


def test_hourly_lockout_threshold_is_configurable(configured: Synth) -> None:
    hourly = [
        props
        for props in alarms(configured).values()
        if props.get("MetricName") == "PinLockouts" and props["Period"] == 3600
    ]
    assert [props["Threshold"] for props in hourly] == [5]


def test_every_alarm_notifies_the_encrypted_topic(synth: Synth) -> None:
    topic_id, topic = only(synth, "AWS::SNS::Topic")
    assert "KmsMasterKeyId" in topic["Properties"]
    for logical_id, props in alarms(synth).items():
        assert props["AlarmActions"] == [{"Ref": topic_id}], logical_id
        assert props["OKActions"] == [{"Ref": topic_id}], logical_id
    assert synth.resources("AWS::SNS::Subscription") == {}
    # finance's liability dashboard (the audit's) is always there; the operations dashboard is
    # an extra, off by default
    synth.template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    # CloudWatch must be allowed to use the topic's key, or alarms never arrive
    synth.template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                            }
                        )
                    ]
                )
            },
        },
    )


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document["Statement"])


def test_alarm_topic_lets_cloudwatch_publish_for_this_stacks_alarms_only(synth: Synth) -> None:
    # Given the topic's own policy (enforce_ssl replaces SNS's default one with it)
    topic_id, _ = only(synth, "AWS::SNS::Topic")
    _, policy = only(synth, "AWS::SNS::TopicPolicy")
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    statements = _statements(policy["Properties"]["PolicyDocument"])
    allows = [s for s in statements if s["Effect"] == "Allow"]
    # Then CloudWatch, and only CloudWatch, may publish: without it no alarm reaches anyone
    (publish,) = allows
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish"
    assert publish["Resource"] == {"Ref": topic_id}
    # And only on behalf of this account's alarms of this stack (no confused deputy)
    assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source = json.dumps(publish["Condition"]["ArnLike"]["aws:SourceArn"])
    for part in (":cloudwatch:", ":alarm:", "AWS::StackName", "AWS::AccountId", "AWS::Region"):
        assert part in source
    # And non-TLS publishing is still denied
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_cloudwatch_uses_the_topic_key_only_for_this_stacks_alarms(synth: Synth) -> None:
    _, topic = only(synth, "AWS::SNS::Topic")
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    statements = _statements(synth.json["Resources"][key_id]["Properties"]["KeyPolicy"])
    (cloudwatch,) = [
        s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    assert ":alarm:" in json.dumps(cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"])


def test_alarm_email_subscribes_to_the_topic(configured: Synth) -> None:
    configured.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


# --- outputs -------------------------------------------------------------------------------


def test_outputs_tell_how_to_reach_and_authenticate(synth: Synth) -> None:
    outputs = synth.json["Outputs"]
    assert {
        "ApiUrl",
        "TableName",
        "ApiKeysSecretArn",
        "KeyMaterialSecretArn",
        "GetApiKeyCommand",
    } <= set(outputs)
    api_keys = {"Ref": synth.logical_id(synth.stack.secrets.api_keys)}
    assert outputs["ApiKeysSecretArn"]["Value"] == api_keys
    assert outputs["KeyMaterialSecretArn"]["Value"] == {
        "Ref": synth.logical_id(synth.stack.secrets.key_material)
    }
    command = json.dumps(outputs["GetApiKeyCommand"]["Value"])
    assert "aws secretsmanager get-secret-value --secret-id " in command
    assert "--query SecretString --output text" in command
    assert json.dumps(api_keys) in command
    assert synth.logical_id(synth.stack.api.rest_api) in json.dumps(outputs["ApiUrl"]["Value"])
