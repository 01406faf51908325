#!/usr/bin/env python3
"""CDK entry point, run by cdk.json (``make synth``, ``make deploy``); settings: docs/deploy.md."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "shared"))

from infra.stack import build_app

if __name__ == "__main__":
    app, _stack = build_app()
    app.synth()
