"""Round trips for ``make bench``: the flow itself is the test harness's
(``tests/support/flows.py``, which the round-trip budget test also runs), so the figures the
benchmark prints and the budget the tests assert come from the same requests.
"""

from __future__ import annotations

from bench import ROOT
from tests.support.flows import (
    REDEMPTION,
    available,
    powertools_round_trips,
    round_trips,
    stored_item_sizes,
)

__all__ = [
    "REDEMPTION",
    "available",
    "functions_present",
    "powertools_round_trips",
    "round_trips",
    "stored_item_sizes",
]


def functions_present() -> list[str]:
    """Every handler folder (webhooks, redemption, authorizer, scheduled jobs)."""
    folder = ROOT / "functions"
    return sorted(p.name for p in folder.iterdir() if (p / "handler.py").is_file())
