"""The checkov gate: checkov (pinned in requirements-checkov.txt) on the synthesized templates,
every finding accepted only by an entry with its reason in infra/checkov_skips.toml."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from infra import PROJECT_ROOT
from tests.infra.conftest import Synth

CHECKOV = Path(os.environ.get("CHECKOV", PROJECT_ROOT / ".venv-checkov" / "bin" / "checkov"))
SKIPS_FILE = PROJECT_ROOT / "infra" / "checkov_skips.toml"
#: `make test` sets it: there the gate must run, never be skipped.
REQUIRED = os.environ.get("GIFTCARD_REQUIRE_CHECKOV") == "1"


def skips() -> list[dict[str, Any]]:
    return list(tomllib.loads(SKIPS_FILE.read_text())["skip"])


def run_checkov(*templates: Path) -> list[dict[str, Any]]:
    """Failed checks over the templates, offline (no platform download), nothing skipped."""
    files = [arg for template in templates for arg in ("-f", str(template))]
    result = subprocess.run(
        [str(CHECKOV), *files, "--framework", "cloudformation", "-o", "json", "--quiet",
         "--compact", "--skip-download"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    return [failed for r in reports for failed in r["results"]["failed_checks"]]


def accepted_by(finding: dict[str, Any], entry: dict[str, Any]) -> bool:
    resource_type = finding["resource"].split(".", 1)[0]
    return finding["check_id"] == entry["check"] and any(
        fnmatch(resource_type, pattern) for pattern in entry["resources"]
    )


def need_checkov() -> None:
    if not CHECKOV.exists():
        if REQUIRED:
            pytest.fail(f"checkov is not installed at {CHECKOV} (make test installs it)")
        pytest.skip("checkov not installed (make test installs it in .venv-checkov)")


@pytest.fixture(scope="module")
def findings(synth: Synth, prod: Synth) -> list[dict[str, Any]]:
    need_checkov()
    return run_checkov(synth.template_path, prod.template_path)


def test_every_checkov_finding_is_accepted_with_a_reason(findings: list[dict[str, Any]]) -> None:
    entries = skips()
    unaccepted = sorted(
        f"{f['check_id']} {f['resource']}: {f['check_name']}"
        for f in findings
        if not any(accepted_by(f, entry) for entry in entries)
    )
    assert unaccepted == [], "\n".join(unaccepted)


def test_no_skip_is_stale(findings: list[dict[str, Any]]) -> None:
    stale = [e["check"] for e in skips() if not any(accepted_by(f, e) for f in findings)]
    assert stale == []


def test_every_skip_names_its_check_resources_and_reason() -> None:
    entries = skips()
    assert entries
    for entry in entries:
        assert set(entry) == {"check", "resources", "reason"}, entry
        assert entry["check"].startswith("CKV_")
        assert entry["resources"] and all("::" in r for r in entry["resources"])
        assert len(entry["reason"]) > 80, entry["check"]
    assert len({e["check"] for e in entries}) == len(entries)  # one entry per check


def test_the_gate_is_live(tmp_path: Path) -> None:
    # Given a template with a finding nobody accepted (an unencrypted, unversioned bucket)
    need_checkov()
    template = tmp_path / "probe.json"
    template.write_text(json.dumps({"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}}))
    # Then checkov reports findings no entry accepts
    found = run_checkov(template)
    assert found
    assert not all(any(accepted_by(f, e) for e in skips()) for f in found)
