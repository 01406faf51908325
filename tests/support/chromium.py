"""Whether the console's browser tests (tests/browser) can run here: Debian's Chromium at
``/usr/bin/chromium`` (``CHROMIUM`` overrides the path) and Playwright for Python, which drives it.
Nothing is ever downloaded: without them the tests are skipped with the reason this gives."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


def missing() -> str | None:
    """Why the browser tests cannot run, or None when they can."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        return (
            f"Chromium is not installed at {CHROMIUM} (as root: apt-get install -y chromium; "
            ".ci/run does it)"
        )
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (make venv installs requirements-dev.txt)"
    return None


def expect(target: Any) -> Any:
    """Playwright's ``expect``, imported when a test runs: a module that uses it is still
    collected (and skipped with the reason) where Playwright is missing."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)
