"""Write the JSON Schema of every event's ``detail`` (``giftcard.events.EventDetail``).

``make events-schema`` writes docs/events/detail.schema.json; ``--check`` exits 1 when the
committed file is not what the model generates (tests/unit/test_events.py checks the same).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from giftcard.events import detail_schema
from tools.generated import generator_main

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "docs" / "events" / "detail.schema.json"


def render() -> str:
    return json.dumps(detail_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    return generator_main(
        argv,
        prog="python -m tools.events_schema",
        description="Generate the JSON Schema of the gift card events' detail.",
        default_output=DEFAULT_OUTPUT,
        root=ROOT,
        make_target="events-schema",
        render=render,
    )


if __name__ == "__main__":
    sys.exit(main())
