"""``python -m tools.console [ARGS]`` is ``giftcard console [ARGS]`` (tools/cli/console.py)."""

from __future__ import annotations

import sys

from tools.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["console", *sys.argv[1:]]))
