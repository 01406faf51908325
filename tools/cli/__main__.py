"""``python -m tools.cli`` is the ``giftcard`` command (``make import-stock`` runs it this way)."""

import sys

from tools.cli.main import main

sys.exit(main())
