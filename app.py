#!/usr/bin/env python3
"""CDK entry point (cdk.json runs it): ``make synth`` / ``make deploy``. Settings: docs/deploy.md."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "shared"))

from infra.stack import build_app  # noqa: E402

if __name__ == "__main__":
    app, _stack = build_app()
    app.synth()
