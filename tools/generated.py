"""Generated documents (docs/openapi.json, docs/events/detail.schema.json): print, write, or
check that the committed copy is current, one way for every generator."""

from __future__ import annotations

import sys
from pathlib import Path


def emit(text: str, *, write: Path | None, check: Path | None, make_target: str) -> int:
    """Write ``text`` to ``write``, or compare it with ``check`` (exit status 1 when out of
    date), or print it. The exit status for ``main``."""
    if write is not None:
        write.parent.mkdir(parents=True, exist_ok=True)
        write.write_text(text, encoding="utf-8")
        print(f"wrote {write}", file=sys.stderr)
        return 0
    if check is not None:
        try:
            current = check.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != text:
            print(f"{check} is out of date: run make {make_target}", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0
