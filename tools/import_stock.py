"""Import printed card stock: now ``giftcard stock import`` (``tools/cli``), the one entry point.

    python -m tools.import_stock CSV [--dry-run]
        [--table NAME --keys-secret ID | --stack STACK_NAME]
        [--endpoint-url URL] [--region R]

is kept so the commands printed by older banners and scripts still work: it runs ``giftcard
stock import`` with the same arguments (same output, same exit status). ``Progress`` and
``report_lines`` are the command's own, for the local run's ``STOCK_CSV`` import.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tools.cli.main import main as giftcard
from tools.cli.stock import StockProgress as Progress
from tools.cli.stock import report_lines

__all__ = ["Progress", "main", "report_lines"]


def main(argv: Sequence[str] | None = None) -> int:
    return giftcard(["stock", "import", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
