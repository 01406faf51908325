"""``make bench``: the service measured against the physical limit and the usual alternative.

Round trips per request, cold-start import cost, warm overhead over the raw DynamoDB calls,
layer size and stored item size, side by side in one run (``python -m bench.run``). Everything
runs offline on loopback: moto stands in for DynamoDB and Secrets Manager.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The layer's package, importable as in Lambda (/opt/python) and as pytest configures it.
for _path in (ROOT / "shared", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
