"""A redeploy must never lose a card: what would replace the table, the secrets or their key is
pinned here, and the stack refuses deletion and (through its stack policy) replacement."""

from __future__ import annotations

import json

import boto3
from moto import mock_aws

from tests.infra.conftest import Synth
from tools import stack_policy

#: Renaming a construct changes its logical id, and CloudFormation then creates a new (empty)
#: table or a new secret. These ids are what the deployed stack holds: change them only with a
#: migration (docs/deploy.md).
PINNED_LOGICAL_IDS = {
    "table": "StorageTableB43FDCE7",
    "api_keys": "SecretsApiKeys7AB8F12A",
    "key_material": "SecretsKeyMaterial7017AB44",
    "key_material_key": "SecretsKeyMaterialKeyCFB64BBA",
}


def test_logical_ids_of_the_table_secrets_and_key_are_pinned(synth: Synth) -> None:
    stack = synth.stack
    found = {
        "table": synth.logical_id(stack.storage.table),
        "api_keys": synth.logical_id(stack.secrets.api_keys),
        "key_material": synth.logical_id(stack.secrets.key_material),
        "key_material_key": synth.logical_id(stack.secrets.key_material_key),
    }
    assert found == PINNED_LOGICAL_IDS
    for logical_id in PINNED_LOGICAL_IDS.values():
        resource = synth.json["Resources"][logical_id]
        assert resource["DeletionPolicy"] == "Retain", logical_id
        assert resource["UpdateReplacePolicy"] == "Retain", logical_id


def test_the_key_material_generator_is_pinned_whole(synth: Synth) -> None:
    # Any change to any field makes CloudFormation generate a new value on the next deploy:
    # every stored card lookup and PIN hash would stop matching.
    secret = synth.json["Resources"][PINNED_LOGICAL_IDS["key_material"]]["Properties"]
    assert secret["GenerateSecretString"] == {
        "SecretStringTemplate": "{}",
        "GenerateStringKey": "master",
        "ExcludePunctuation": True,
        "PasswordLength": 64,
    }
    assert secret["KmsKeyId"] == {"Fn::GetAtt": [PINNED_LOGICAL_IDS["key_material_key"], "Arn"]}


def test_termination_protection_is_on(synth: Synth) -> None:
    manifest = json.loads((synth.template_path.parent / "manifest.json").read_text())
    artifact = manifest["artifacts"][synth.stack.artifact_id]
    assert artifact["properties"]["terminationProtection"] is True


def test_the_stack_policy_protects_every_table_secret_and_key(synth: Synth) -> None:
    # Given the stack policy make deploy sets
    document = stack_policy.policy()
    (allow,) = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    assert (allow["Action"], allow["Resource"]) == ("Update:*", "*")
    # Then every resource holding money or keys in the template is of a type it protects
    holding = {
        r["Type"]
        for lid, r in synth.json["Resources"].items()
        if lid in PINNED_LOGICAL_IDS.values()
    }
    assert holding == {"AWS::DynamoDB::Table", "AWS::SecretsManager::Secret", "AWS::KMS::Key"}
    assert holding <= stack_policy.protected_types(document)


@mock_aws
def test_make_deploy_sets_the_policy_on_the_synthesized_stack(synth: Synth) -> None:
    # Given the deployed stack (moto) and the synthesized assembly naming it
    client = boto3.client("cloudformation", region_name="us-east-1")
    client.create_stack(
        StackName=synth.stack.stack_name,
        TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
    )
    ((name, region),) = stack_policy.stacks_in(synth.template_path.parent)
    assert (name, region) == ("GiftCardProvider", None)
    # When the tool applies the policy
    stack_policy.apply(name, client)
    # Then CloudFormation holds exactly the policy file
    body = client.get_stack_policy(StackName=name)["StackPolicyBody"]
    assert json.loads(body) == stack_policy.policy()
