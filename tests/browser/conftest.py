"""The console in a real browser: Debian's headless Chromium (``/usr/bin/chromium``) driven by
Playwright for Python (its own driver ships in the wheel; no browser is ever downloaded).

Skipped, with the reason, when Chromium or Playwright is missing (tests/support/chromium.py;
``apt-get install -y chromium`` as root, which .ci/run does); `make test` says so in its header
and summary (tests/conftest.py). One browser per test session; each test opens its own context
(fresh storage) in the operator's locale and a time zone away from UTC.

``GIFTCARD_SCREENSHOTS=1`` (``make console-screenshots``) writes the pages' screenshots to
docs/console/; otherwise they go to a temporary directory, so a test run leaves the tree clean.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import chromium

CHROMIUM = chromium.CHROMIUM
ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOTS = ROOT / "docs" / "console"
#: The operator's locale and time zone in every test (times must show in it, UTC on hover).
LOCALE = "en-US"
TIME_ZONE = "America/New_York"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Skipped before any fixture starts a stand-in API or a local run.
    reason = chromium.missing()
    if reason is not None:
        here = Path(__file__).parent
        for item in items:
            if here in item.path.parents:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # As root (CI, containers) Chromium's sandbox cannot start.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("GIFTCARD_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("console-screenshots")


@dataclass
class Visit:
    """A page in a fresh context, remembering every URL it requested or navigated to."""

    page: Any
    urls: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)

    def title(self) -> str:
        title = str(self.page.title())
        self.titles.append(title)
        return title

    def storage(self) -> str:
        """Everything the page could have kept: local and session storage, cookies, IndexedDB
        and Cache Storage names, and the form field values restored by the browser."""
        kept = self.page.evaluate(
            """async () => JSON.stringify({
                local: Object.entries(localStorage), session: Object.entries(sessionStorage),
                cookies: document.cookie,
                databases: (await indexedDB.databases()).map(d => d.name),
                caches: 'caches' in window ? await caches.keys() : [],
                history: history.state,
            })"""
        )
        cookies = self.page.context.cookies()
        return f"{kept} {cookies}"

    def assert_never_shown(self, secret: str) -> None:
        """The card number is in no URL the browser visited, no title, no browser storage."""
        digits = re.sub(r"\D", "", secret)
        self.title()
        for url in self.urls:
            assert digits not in re.sub(r"\D", "", url), f"card number in a URL: {url}"
        for title in self.titles:
            assert digits not in re.sub(r"\D", "", title)
        assert digits not in re.sub(r"\D", "", self.storage())


@pytest.fixture
def visit(browser: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_page(**options: Any) -> Visit:
        context = browser.new_context(
            locale=LOCALE,
            timezone_id=TIME_ZONE,
            viewport=options.pop("viewport", {"width": 1280, "height": 900}),
            **options,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        seen = Visit(page)
        page.on("request", lambda request: seen.urls.append(request.url))
        page.on("framenavigated", lambda frame: seen.urls.append(frame.url))
        return seen

    yield open_page
    for context in contexts:
        context.close()
