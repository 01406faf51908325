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
    text = render()
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}", file=sys.stderr)
        return 0
    if args.check is not None:
        try:
            current = args.check.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != text:
            print(f"{args.check} is out of date: run make events-schema", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
