"""Shared set-up of the reliability suites: sizes, hypothesis profiles, the log leak guard.

``GIFTCARD_LONG=1`` (``make test-long``) switches every suite to its long variant. The profiles
are registered here and applied explicitly by the suites (``settings(PROFILE, ...)``), so loading
this file never changes how other test folders run hypothesis.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.reliability.http_support import service_log_leaks
from tests.reliability.leaks import leaks
from tests.support.calls import SECRETS, CapturedLogs
from tests.support.local_server import LocalApi

LONG = os.environ.get("GIFTCARD_LONG", "") not in ("", "0")


def size(short: int, long: int) -> int:
    """The short variant's size in ``make test``, the long one's in ``make test-long``."""
    return long if LONG else short


settings.register_profile(
    "reliability",
    deadline=None,
    derandomize=False,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
settings.register_profile(
    "reliability-long", parent=settings.get_profile("reliability"), max_examples=5000
)
PROFILE = settings.get_profile("reliability-long" if LONG else "reliability")


@pytest.fixture(autouse=True)
def no_secrets_in_logs() -> Iterator[CapturedLogs]:
    """Every test of these suites: the service's log records, as Lambda would print them, hold no
    card number, PIN, API key or e-mail (``SECRETS`` is what the test sent and received)."""
    with CapturedLogs() as captured:
        yield captured
    found = leaks(captured.text, SECRETS)
    assert not found, f"the service's logs contain: {', '.join(found)}"


@pytest.fixture(scope="module")
def local_run(request: pytest.FixtureRequest) -> Iterator[LocalApi]:
    """The local run (``python -m tools.local_api``) for one test module; settings from the
    module's ``LOCAL_ENV`` dict."""
    with LocalApi(env=getattr(request.module, "LOCAL_ENV", {})) as running:
        yield running
    running.cleanup()


@pytest.fixture
def api(local_run: LocalApi) -> Iterator[LocalApi]:
    """The module's local run; the JSON log lines it printed during the test (handlers,
    authorizer, gateway) must hold no card number, PIN, API key or e-mail."""
    start = len(local_run.output())
    yield local_run
    found = service_log_leaks(local_run.output()[start:], SECRETS)
    assert not found, f"the local run's logs contain: {', '.join(found)}"
