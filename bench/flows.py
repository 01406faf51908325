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


#: Function folders that are not one of NewStore's request paths (or are every route's code).
BATCH_AND_SHARED = frozenset({"route", "audit", "event_publisher"})


def functions_present() -> list[str]:
    """NewStore's routes (each a Lambda running functions/route), the authorizer and the expiry
    job: what NewStore's calls wait for. The operator routes run the same code path and are
    called by people; the audit and the event publisher are batch jobs: not measured here."""
    from giftcard.routes import WEBHOOK_ROUTES

    folder = ROOT / "functions"
    others = [
        p.name
        for p in folder.iterdir()
        if (p / "handler.py").is_file() and p.name not in BATCH_AND_SHARED
    ]
    return sorted([route.function for route in WEBHOOK_ROUTES] + others)
