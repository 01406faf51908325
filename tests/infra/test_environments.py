"""Environments: dev and prod side by side in one account, and what the presets pin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import PROJECT_ROOT
from infra.config import context_keys
from infra.environments import apply_preset
from infra.stack import build_app
from tests.infra.conftest import CDK_JSON_CONTEXT, PROD_CONTEXT, Synth

PRESETS = CDK_JSON_CONTEXT["environments"]


def custom_metric_alarms(synth: Synth) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in synth.resources("AWS::CloudWatch::Alarm").values()
        if r["Properties"].get("Namespace") == "GiftCards"
    ]


def alarm_inputs(synth: Synth) -> set[str]:
    """Every (namespace, metric, dimensions) an alarm watches by literal dimension values (a
    dimension that references a resource of the stack is that stack's own), as text."""
    found = set()
    for props in (r["Properties"] for r in synth.resources("AWS::CloudWatch::Alarm").values()):
        metrics = props.get("Metrics") or [{"MetricStat": {"Metric": props}}]
        for metric in metrics:
            stat = metric.get("MetricStat", {}).get("Metric")
            dimensions = json.dumps(stat["Dimensions"]) if stat else ""
            if stat and '"Ref"' not in dimensions and '"Fn::GetAtt"' not in dimensions:
                found.add(json.dumps([stat["Namespace"], stat["MetricName"], stat["Dimensions"]]))
    return found


def explicit_names(synth: Synth) -> set[str]:
    """Physical names the template sets itself (a clash between two stacks fails a deploy)."""
    names = set()
    for resource in synth.json["Resources"].values():
        if resource["Type"] == "AWS::ApiGateway::Authorizer":
            continue  # named within its own REST API
        props = resource.get("Properties", {})
        for key in ("Name", "LogGroupName", "TableName", "DomainName", "BackupVaultName"):
            if isinstance(props.get(key), str):
                names.add(f"{resource['Type']}:{props[key]}")
    return names


def test_two_environments_synthesize_side_by_side(dev: Synth, prod: Synth) -> None:
    # Given dev and prod synthesized from cdk.json's presets
    assert (dev.stack.stack_name, prod.stack.stack_name) == (
        "GiftCardProvider-dev",
        "GiftCardProvider-prod",
    )
    # Then each alarms on its own functions' custom metrics only (a "stack" dimension each)
    for synth in (dev, prod):
        alarms = custom_metric_alarms(synth)
        assert alarms
        for props in alarms:
            assert {"Name": "stack", "Value": synth.stack.stack_name} in props["Dimensions"]
        functions = synth.resources("AWS::Lambda::Function")
        (env,) = {
            json.dumps(
                functions[synth.logical_id(f.function)]["Properties"]["Environment"]["Variables"][
                    "STACK_NAME"
                ]
            )
            for f in synth.stack.functions.by_name.values()
        }
        assert json.loads(env) == synth.stack.stack_name
    # And no alarm of one watches a metric of the other (API name, custom metrics)
    assert len(alarm_inputs(dev)) >= 5  # the custom metrics
    assert alarm_inputs(dev) & alarm_inputs(prod) == set()
    # And no explicitly named resource clashes
    assert explicit_names(dev) & explicit_names(prod) == set()
    # And only one of them manages the region's API Gateway CloudWatch role
    assert dev.resources("AWS::ApiGateway::Account") == {}
    (account,) = prod.resources("AWS::ApiGateway::Account").values()
    (role_id,) = [
        lid for lid, r in prod.resources("AWS::IAM::Role").items() if lid in json.dumps(account)
    ]
    # kept when the stack goes: other stacks' logging in the region depends on it
    assert prod.json["Resources"][role_id]["DeletionPolicy"] == "Retain"


def test_presets_set_retention_throttling_and_protection(dev: Synth, prod: Synth) -> None:
    for synth, days, rate, burst, protected in (
        (dev, 14, 20, 40, False),
        (prod, 365, 100, 200, True),
    ):
        retention = {
            r["Properties"].get("RetentionInDays")
            for r in synth.resources("AWS::Logs::LogGroup").values()
        }
        assert retention == {days}, synth.stack.stack_name
        stage = synth.json["Resources"][synth.logical_id(synth.stack.api.stage)]
        (settings,) = stage["Properties"]["MethodSettings"]
        assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (rate, burst)
        assert synth.stack.termination_protection is protected


def test_prod_is_pinned_to_its_account_and_region_and_alerts_someone(prod: Synth) -> None:
    manifest = json.loads((prod.template_path.parent / "manifest.json").read_text())
    artifact = manifest["artifacts"][prod.stack.artifact_id]
    assert artifact["environment"] == "aws://123456789012/eu-central-1"
    prod.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )


@pytest.mark.parametrize(
    ("missing", "message"),
    [("account", "pins its account"), ("alarm_email", "receive its alarms")],
)
def test_prod_refuses_to_synthesize_without(
    missing: str, message: str, stub_assets: dict[str, str], tmp_path: Path
) -> None:
    context = {**CDK_JSON_CONTEXT, **stub_assets, **PROD_CONTEXT}
    del context[missing]
    if missing == "account":
        del context["region"]
    with pytest.raises(ValueError, match=message):
        build_app(context, outdir=str(tmp_path))


def test_explicit_context_wins_over_the_preset() -> None:
    resolved = apply_preset(
        {"throttle_rate": "7", "stage_name": None}, "dev", PRESETS, context_keys()
    )
    assert resolved["throttle_rate"] == "7"  # given on the command line
    assert resolved["throttle_burst"] == PRESETS["dev"]["throttle_burst"]  # from the preset
    assert "stage_name" not in resolved  # neither: the default applies
    assert resolved["environment"] == "dev"


def test_unknown_preset_or_key_fails() -> None:
    with pytest.raises(ValueError, match="no such preset"):
        apply_preset({}, "staging", PRESETS, context_keys())
    with pytest.raises(ValueError, match="unknown context keys"):
        apply_preset({}, "dev", {"dev": {"throtle_rate": 5}}, context_keys())


def test_every_preset_key_is_one_the_stack_reads() -> None:
    for name, preset in PRESETS.items():
        assert set(preset) <= set(context_keys()), name


def test_the_stack_dimension_is_on_every_metric_the_functions_emit() -> None:
    # Given a function environment with STACK_NAME (what the stack sets), When a metric is flushed
    code = (
        "from giftcard.observability import metrics\n"
        "metrics.add_metric(name='PinLockouts', unit='Count', value=1)\n"
        "metrics.flush_metrics()\n"
    )
    env = {**os.environ, "STACK_NAME": "GiftCardProvider-dev", "PYTHONPATH": "shared"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    emf = json.loads(out.strip().splitlines()[-1])
    # Then its dimensions are the service and the stack, as the alarms expect
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert sorted(directive["Dimensions"][0]) == ["service", "stack"]
    assert (emf["service"], emf["stack"]) == ("giftcard", "GiftCardProvider-dev")
