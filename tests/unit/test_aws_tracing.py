"""Powertools Tracer on the AWS SDK calls (context ``trace_aws_calls``): on only when the stack
asks for it and X-Ray is on; off, the X-Ray SDK is never imported (cold starts keep their
budget)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from giftcard import aws

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, **env: str) -> str:
    """``code`` in a fresh interpreter (patching botocore is process-wide)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("TRACE_AWS_CALLS",)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "PYTHONPATH": "shared", "AWS_DEFAULT_REGION": "us-east-1", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


CLIENT_THEN_REPORT = (
    "import sys\n"
    "from giftcard import aws\n"
    "aws.client('dynamodb')\n"
    "patched = sys.modules.get('aws_xray_sdk.core.patcher')\n"
    "print('aws_xray_sdk' in sys.modules, sorted(getattr(patched, '_PATCHED_MODULES', [])))\n"
)


def test_off_by_default_the_xray_sdk_is_never_imported() -> None:
    assert run(CLIENT_THEN_REPORT) == "False []"


def test_on_every_botocore_call_is_traced() -> None:
    # (inside Lambda: Powertools switches its Tracer off anywhere else)
    on = run(CLIENT_THEN_REPORT, TRACE_AWS_CALLS="true", LAMBDA_TASK_ROOT="/var/task")
    assert on == "True ['botocore']"


def test_it_stays_off_when_tracing_is_disabled() -> None:
    off = run(
        CLIENT_THEN_REPORT,
        TRACE_AWS_CALLS="true",
        POWERTOOLS_TRACE_DISABLED="true",
        LAMBDA_TASK_ROOT="/var/task",
    )
    assert off == "False []"


def test_the_switch_builds_one_tracer_patching_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []

    class Recorder:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

    import aws_lambda_powertools

    monkeypatch.setattr(aws_lambda_powertools, "Tracer", Recorder)
    monkeypatch.setenv("TRACE_AWS_CALLS", "true")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    assert aws.trace_aws_calls() is True
    assert made == [{"patch_modules": ("botocore",)}]
    monkeypatch.setenv("TRACE_AWS_CALLS", "false")
    assert aws.trace_aws_calls() is False
    assert len(made) == 1
