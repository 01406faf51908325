"""The gates: cdk-nag AwsSolutions, cfn-lint, and an offline synth of the real app wiring."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from infra import PROJECT_ROOT
from infra.stack import build_app
from tests.infra.conftest import Synth

#: cfn-lint warns that CDK's DependsOn on a role duplicates the GetAtt; CDK emits it on purpose
#: (the role's policy must exist before the function), so this one warning is accepted.
ACCEPTED_LINT_WARNINGS = {"W3005"}
REGIONS = ["us-east-1", "eu-central-1"]


def describe(violations: list[Any]) -> str:
    return "\n".join(
        f"{v.severity} {v.rule_name}: {[r.construct_path for r in v.violating_resources]}"
        for v in violations
    )


@pytest.mark.parametrize("variant", ["synth", "configured"])
def test_cdk_nag_has_no_unacknowledged_findings(variant: str, request: Any) -> None:
    synth: Synth = request.getfixturevalue(variant)
    assert synth.nag_violations == [], describe(synth.nag_violations)


def test_cdk_nag_gate_is_live() -> None:
    # Given a stack with a finding nobody acknowledged (a secret without rotation)
    app = App()
    stack = Stack(app, "Probe")
    secretsmanager.Secret(stack, "Unrotated")
    # When the same pack the app registers checks it, Then it reports the finding
    found = AwsSolutionsChecks().validate_scope(app).violations
    assert [v.rule_name for v in found] == ["AwsSolutions-SMG4"]
    # And with the pack registered as the app does, synth fails on it
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()


def test_every_acknowledgment_carries_a_reason(synth: Synth) -> None:
    acknowledged = [
        entry.data
        for construct in synth.stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    ]
    assert acknowledged
    for data in acknowledged:
        for rule, reason in data.items():
            assert "AwsSolutions-" in rule
            assert len(reason) > 40, rule


@pytest.mark.parametrize("variant", ["synth", "configured"])
def test_cfn_lint_reports_no_errors(variant: str, request: Any) -> None:
    synth: Synth = request.getfixturevalue(variant)
    matches = lint(synth.template_path.read_text(), config=ManualArgs(regions=REGIONS))
    errors = [m for m in matches if m.rule.id.startswith("E")]
    assert errors == [], "\n".join(str(m) for m in errors)
    other = {m.rule.id for m in matches} - ACCEPTED_LINT_WARNINGS - {m.rule.id for m in errors}
    assert other == set(), "\n".join(str(m) for m in matches if m.rule.id in other)


def test_synth_is_offline_and_environment_agnostic(synth: Synth) -> None:
    # No account, region or lookups baked in: the same template deploys anywhere
    text = json.dumps(synth.json)
    assert synth.stack.environment == "aws://unknown-account/unknown-region"
    assert '"AWS::Region"' in text  # regions come from pseudo parameters
    manifest = json.loads((synth.template_path.parent / "manifest.json").read_text())
    assert "missing" not in manifest  # no context lookups pending


def test_missing_layer_build_fails_with_a_hint(stub_assets: dict[str, str], tmp_path: Path) -> None:
    context = {**stub_assets, "layer_asset_dir": str(tmp_path / "nothing")}
    with pytest.raises(FileNotFoundError, match="make build"):
        build_app(context, outdir=str(tmp_path / "out"))


def test_missing_function_folder_fails(stub_assets: dict[str, str], tmp_path: Path) -> None:
    context = {**stub_assets, "functions_dir": str(tmp_path)}
    with pytest.raises(FileNotFoundError, match=r"handler\.py"):
        build_app(context, outdir=str(tmp_path / "out"))


CDK_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"


@pytest.mark.skipif(not CDK_CLI.exists(), reason="CDK CLI not installed (npm install)")
def test_cdk_cli_synth_runs_the_app_from_cdk_json(
    stub_assets: dict[str, str], tmp_path: Path
) -> None:
    # Given the CLI pinned in package.json and cdk.json's app command, When it synthesizes
    # (offline; stub assets so the test does not need `make build`)
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_CLI_NOTICES": "false",
    }
    result = subprocess.run(
        [
            str(CDK_CLI),
            "synth",
            "--quiet",
            "--no-notices",
            "-o",
            str(tmp_path / "cdk.out"),
            "-c",
            f"functions_dir={stub_assets['functions_dir']}",
            "-c",
            f"layer_asset_dir={stub_assets['layer_asset_dir']}",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # Then it succeeds (nag passed) and writes the template
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((tmp_path / "cdk.out" / "GiftCardProvider.template.json").read_text())
    assert "AWS::WAFv2::WebACLAssociation" in json.dumps(template)


def test_every_recommended_feature_flag_is_set() -> None:
    # Given the flags this aws-cdk-lib recommends for new projects (what `cdk init` writes)
    import tarfile

    import aws_cdk

    bundle = next((Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz"))
    with tarfile.open(bundle) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        recommended = json.loads(member.read())
    # Then cdk.json sets each, to the recommended value: an unset flag keeps old, often unsafe,
    # behaviour (and changes meaning silently when CDK's default moves)
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    assert len(recommended) > 80
    assert {k: context.get(k) for k in recommended} == recommended
