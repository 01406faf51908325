"""Shared fixtures: offline AWS, a settable clock, injected services, log capture, and the
automatic check that integration tests leak no card number, PIN, API key or e-mail into logs or
error bodies (see ``tests/support/calls.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from giftcard.clock import FixedClock
from tests.support import chromium
from tests.support.calls import (
    SECRETS,
    CapturedLogs,
    assert_ledger_consistent,
    assert_no_secrets,
)


def pytest_report_header(config: pytest.Config) -> str:
    reason = chromium.missing()
    if reason is None:
        return f"browser tests (tests/browser): Chromium at {chromium.CHROMIUM}"
    return f"browser tests (tests/browser): skipped: {reason}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say once, at the end, why the browser tests did not run (each skip says it too)."""
    reason = chromium.missing()
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if report.nodeid.startswith("tests/browser/")
    ]
    if reason is not None and skipped:
        terminalreporter.write_line(f"tests/browser: {len(skipped)} skipped: {reason}")


#: 2027-01-15T08:00:00Z: the fixed clock's start.
START = 1_800_000_000


class _UniquePaths(list):  # type: ignore[type-arg]
    def append(self, item: Any) -> None:
        if item not in self:
            super().append(item)


@pytest.fixture(scope="session", autouse=True)
def moto_journal() -> None:
    """Every in-process moto of the suite runs on tools/moto_journal.py (the local run too), so
    the suites test what ``make run`` serves, and a transaction no longer copies whole tables.
    Raises if moto is not the version the journal was written for."""
    from tools import moto_journal

    moto_journal.install()


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_loader() -> Iterator[None]:
    """One botocore data loader for the whole test process.

    Every test starts moto afresh and the service then builds new boto3 sessions; each would
    parse botocore's large JSON models again (~0.1 s per client). Sharing the loader is what
    clients of one session do anyway; it only saves the parsing.
    """
    import botocore.loaders
    import botocore.session

    original = botocore.session.create_loader
    shared: dict[Any, Any] = {}

    def create_loader(search_path_string: Any = None) -> Any:
        if search_path_string not in shared:
            loader = original(search_path_string)
            loader._search_paths = _UniquePaths(loader.search_paths)  # type: ignore[attr-defined]
            shared[search_path_string] = loader
        return shared[search_path_string]

    botocore.session.create_loader = create_loader  # type: ignore[assignment]
    yield
    botocore.session.create_loader = original  # type: ignore[assignment]


@pytest.fixture
def env() -> dict[str, str]:
    """Settings for ``aws``; override with ``@pytest.mark.parametrize("env", [{...}])``."""
    return {}


@pytest.fixture
def aws(env: dict[str, str]) -> Iterator[None]:
    """moto with the service's table and secrets, the given settings in the environment."""
    from tests.support.aws import offline_aws

    with offline_aws(env=env):
        yield


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def services(aws: None, clock: FixedClock) -> Any:
    """What the handlers use, with the fixed clock: pass as ``invoke(..., services=services)``."""
    from giftcard.http import Services
    from giftcard.repository import Repository
    from giftcard.settings import get_settings

    settings = get_settings()
    return Services(settings=settings, repository=Repository(settings.table_name), clock=clock)


@pytest.fixture
def repository(aws: None) -> Any:
    from giftcard.repository import Repository
    from giftcard.settings import get_settings

    return Repository(get_settings().table_name)


@pytest.fixture
def ledger_checked(repository: Any) -> Iterator[None]:
    """After the test: every card's balance + held equals the sum of its ledger, and the ledger
    chains. Use per module: ``pytestmark = pytest.mark.usefixtures("ledger_checked")``."""
    yield
    assert_ledger_consistent(repository)


@pytest.fixture
def logs() -> Iterator[CapturedLogs]:
    with CapturedLogs() as captured:
        yield captured


@pytest.fixture(autouse=True)
def no_secrets_leak(request: pytest.FixtureRequest) -> Iterator[None]:
    """Integration tests: after each test, its logs, printed output and error bodies contain none
    of the card numbers, PINs, e-mails it used, nor the API key."""
    SECRETS.clear()
    if "integration" not in request.node.path.parts:
        yield
        return
    captured: CapturedLogs = request.getfixturevalue("logs")
    capsys: pytest.CaptureFixture[str] = request.getfixturevalue("capsys")
    yield
    printed = capsys.readouterr()
    assert_no_secrets(captured.text, where="logs")
    assert_no_secrets(printed.out + printed.err, where="printed output")
    assert_no_secrets("\n".join(SECRETS.error_bodies), where="error bodies")
