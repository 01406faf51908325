"""Generated documents (docs/openapi.json, docs/events/detail.schema.json): print, write, or
check that the committed copy is current, one way for every generator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
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


def generator_main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    default_output: Path,
    root: Path,
    make_target: str,
    render: Callable[[], str],
) -> int:
    """The command line every generator has: print, ``--write PATH`` or ``--check [PATH]``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", metavar="PATH", type=Path, help="write it to PATH")
    action.add_argument(
        "--check",
        metavar="PATH",
        type=Path,
        nargs="?",
        const=default_output,
        help=f"exit 1 if PATH (default {default_output.relative_to(root)}) is out of date",
    )
    args = parser.parse_args(argv)
    return emit(render(), write=args.write, check=args.check, make_target=make_target)
