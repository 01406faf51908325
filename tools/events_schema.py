"""Write the JSON Schema of every event's ``detail`` (``giftcard.events.EventDetail``).

``make events-schema`` writes docs/events/detail.schema.json; ``--check`` exits 1 when the
committed file is not what the model generates (tests/unit/test_events.py checks the same).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from giftcard.events import detail_schema
from tools.generated import emit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "docs" / "events" / "detail.schema.json"


def render() -> str:
    return json.dumps(detail_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.events_schema",
        description="Generate the JSON Schema of the gift card events' detail.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", metavar="PATH", type=Path, help="write the schema to PATH")
    action.add_argument(
        "--check",
        metavar="PATH",
        type=Path,
        nargs="?",
        const=DEFAULT_OUTPUT,
        help=f"exit 1 if PATH (default {DEFAULT_OUTPUT.relative_to(ROOT)}) is out of date",
    )
    args = parser.parse_args(argv)
    return emit(render(), write=args.write, check=args.check, make_target="events-schema")


if __name__ == "__main__":
    sys.exit(main())
