"""The layer drops Powertools subpackages the service never uses; prove none is needed.

Given every handler module and a flow through the gift card webhooks and the authorizer,
when we look at what got imported, then nothing from ``tools.build_layer.UNUSED``
is among it (a fresh interpreter, so other tests' imports don't count).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import importlib, json, os, sys
from pathlib import Path
from giftcard.routes import ROUTES
from tests.support.aws import offline_aws, API_KEY
from tests.support.calls import handler
from tests.support.events import proxy_event, authorizer_event, LambdaContext

os.environ["GIFTCARD_ROUTE"] = "balance"
for p in sorted(Path("functions").glob("*/handler.py")):
    importlib.import_module(f"functions.{p.parent.name}.handler")
for route in ROUTES:
    route.resolve()
with offline_aws():
    issued = handler("issue")(proxy_event("/gift_card/issue", {
        "amount": {"value": 5, "currency": "USD"}, "customer": {}}), LambdaContext())
    card = json.loads(issued["body"])["identifier"]
    ctx = LambdaContext()
    handler("balance")(proxy_event("/gift_card/balance", {"identifier": card}), ctx)
    handler("deactivate")(proxy_event("/gift_card/deactivate", {
        "card_number": card["number"]}), LambdaContext())
    handler("authorizer")(authorizer_event({"Authorization": API_KEY}), ctx)
watched = ("aws_lambda_powertools", "pydantic")
print(json.dumps(sorted(m for m in sys.modules if m.startswith(watched))))
"""


def test_handlers_import_nothing_the_layer_strips() -> None:
    from tools.build_layer import UNUSED

    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    stripped = [name.replace("/", ".") for name in UNUSED]
    used = [m for m in imported if any(m == s or m.startswith(s + ".") for s in stripped)]
    assert any(m.startswith("aws_lambda_powertools") for m in imported)
    assert any(m.startswith("pydantic") for m in imported)
    assert used == []
