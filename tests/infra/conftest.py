"""Synthesize the stack once per session, offline, with stub asset directories.

The stub function folders and layer keep these tests independent of the real handlers and of
``make build``: the template does not depend on what the assets contain, only on their paths.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from infra import PROJECT_ROOT
from infra.audit import FUNCTION_FOLDER as AUDIT_FOLDER
from infra.events import PUBLISHER
from infra.functions import FUNCTIONS
from infra.stack import GiftCardStack, build_app

#: cdk.json's context (feature flags, environment presets), as `cdk synth` gives it to the app:
#: every synthesis here starts from it.
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]

#: The prod preset with what it requires (its account, region and alarm subscriber).
PROD_CONTEXT: dict[str, Any] = {
    "env": "prod",
    "account": "123456789012",
    "region": "eu-central-1",
    "alarm_email": "oncall@example.com",
}
#: The extras the prod preset leaves off, switched on for the prod fixture (so every optional
#: construct is synthesized, linted, nagged and checked by checkov).
EXTRAS_CONTEXT: dict[str, Any] = {
    "domain_name": "giftcards.example.com",
    "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
    "hosted_zone_name": "example.com",
    "trace_aws_calls": True,
    "canary": True,
}

#: A deployment that sets everything a retailer might: allow-list, e-mail, service settings.
CONFIGURED_CONTEXT: dict[str, Any] = {
    "stack_name": "GiftCardsConfigured",
    "stage_name": "live",
    "api_key_header": "X-Api-Key",
    "authorizer_cache_seconds": "60",  # as `cdk -c` passes it: a string
    "throttle_rate": 20,
    "throttle_burst": 40,
    "waf_rate_limit": 3000,
    "waf_common_rules": "false",
    "newstore_ip_allowlist": ["203.0.113.10", "198.51.100.0/24", "2001:db8::/64"],
    "max_body_bytes": 16384,
    "alarm_email": "ops@example.com",
    "log_retention_days": 30,
    "log_level": "DEBUG",
    "tracing": False,
    "lambda_memory_mb": 1024,
    "pin_lockout_hourly_alarm_threshold": "5",
    "issued_cards_need_activation": True,
    "card_number_prefix": "6006",
    "pin_max_failures": 3,
    "accepted_currencies": ["USD", "EUR"],
    "max_card_balance_by_currency": {"USD": 500, "EUR": 450},
    "issuance_ceiling_factor": 50,
    "issuance_ceiling_by_currency": {"USD": 20000},
    "issuance_alert_fraction": "0.9",
}


@dataclass
class Synth:
    stack: GiftCardStack
    template: Template
    json: dict[str, Any]
    template_path: Path
    nag_violations: list[Any]

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.json["Resources"].items()
            if resource["Type"] == cfn_type
        }

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child)


@pytest.fixture(scope="session")
def stub_assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("assets")
    for asset in {spec.asset for spec in (*FUNCTIONS, PUBLISHER)} | {AUDIT_FOLDER}:
        folder = root / "functions" / asset
        folder.mkdir(parents=True)
        (folder / "handler.py").write_text(
            f"# {asset}\ndef lambda_handler(event, context):\n    return {{}}\n"
        )
    layer = root / "layer" / "python" / "giftcard"
    (layer / "__pycache__").mkdir(parents=True)
    (layer / "__init__.py").write_text("")
    # What `make build` leaves: the runtime's bytecode; and one a host interpreter might add.
    for tag in ("cpython-313", "cpython-311"):
        (layer / "__pycache__" / f"__init__.{tag}.pyc").write_bytes(b"\x00")
    return {"functions_dir": str(root / "functions"), "layer_asset_dir": str(root / "layer")}


def synthesize(context: dict[str, Any], outdir: Path) -> Synth:
    app, stack = build_app({**CDK_JSON_CONTEXT, **context}, outdir=str(outdir))
    # The same check the app registers as a validation plugin (app.synth() fails on any
    # finding); run directly as well so a test can show what it found.
    violations = list(AwsSolutionsChecks(verbose=True).validate_scope(app).violations)
    assembly = app.synth()
    artifact = assembly.get_stack_by_name(stack.stack_name)
    template_path = Path(assembly.directory) / artifact.template_file
    data = json.loads(template_path.read_text())
    return Synth(stack, Template.from_json(data), data, template_path, violations)


@pytest.fixture(scope="session")
def synth(stub_assets: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack with every default."""
    return synthesize(dict(stub_assets), tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def configured(stub_assets: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack with every optional setting given."""
    return synthesize({**stub_assets, **CONFIGURED_CONTEXT}, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def dev(stub_assets: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The dev preset."""
    return synthesize({**stub_assets, "env": "dev"}, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def prod(stub_assets: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The prod preset, with what it requires and every extra it leaves off."""
    return synthesize(
        {**stub_assets, **PROD_CONTEXT, **EXTRAS_CONTEXT}, tmp_path_factory.mktemp("cdk.out")
    )
