"""``python -m tools.local_api`` (``make run``)."""

import os
import sys

from tools.local_api.main import main

status = main()
sys.stdout.flush()
sys.stderr.flush()
# Everything is closed by now; skipping the interpreter's finalization (seconds of tearing
# down moto's backends) makes Ctrl-C, and every test that starts a local run, quick.
os._exit(status)
