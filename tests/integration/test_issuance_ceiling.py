"""The daily issuance ceiling (anti-minting): the value issued and activated per currency per UTC
day cannot pass the deployment's ceiling, exactly, also under concurrency; past it, issue and
activate answer ``400 issuance_limit_reached``, and a load past the alert level is counted for
the alarm."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from giftcard import aws
from tests.integration.test_idempotency import emitted_metrics
from tests.support.calls import card_number, invoke, load_stock

pytestmark = pytest.mark.usefixtures("ledger_checked")

#: A ceiling of 100 USD a day, the alarm at half of it.
CEILING = {"ISSUANCE_CEILING_BY_CURRENCY": "USD=100", "ISSUANCE_ALERT_FRACTION": "0.5"}


def issue(services: Any, value: Any, currency: str = "USD", key: str | None = None) -> Any:
    body: dict[str, Any] = {"amount": {"value": value, "currency": currency}, "customer": {}}
    if key is not None:
        body["idempotence_key"] = key
    return invoke("issue", body, services=services)


@pytest.mark.parametrize("env", [CEILING])
def test_loads_stop_exactly_at_the_daily_ceiling_and_resume_the_next_day(
    services: Any, clock: Any
) -> None:
    # Given a ceiling of 100 USD a day: 60 and 40 are issued (exactly the ceiling)
    assert issue(services, 60).status == 200
    assert issue(services, 40).status == 200
    # When one more cent is issued, it is refused with the business code
    refused = issue(services, Decimal("0.01"))
    assert (refused.status, refused.error_code) == (400, "issuance_limit_reached")
    # And activating printed stock counts against the same ceiling: refused, card still inactive
    number = card_number(4401)
    load_stock([(number, "4401")])
    body = {"card_number": number, "amount": {"value": 5, "currency": "USD"}}
    activation = invoke("activate", body, services=services)
    assert (activation.status, activation.error_code) == (400, "issuance_limit_reached")
    balance = invoke(
        "balance", {"identifier": {"number": number, "pin": "4401"}}, services=services
    )
    assert balance.error_code == "card_not_active"
    # And another currency has its own ceiling
    assert issue(services, 50, "EUR").status == 200
    # When the next UTC day starts, loading works again
    clock.advance(86400)
    assert invoke("activate", body, services=services).status == 200


@pytest.mark.parametrize("env", [CEILING])
def test_a_refusal_by_the_ceiling_is_stored_under_its_key(services: Any, clock: Any) -> None:
    assert issue(services, 100).status == 200
    first = issue(services, 1, key="over-the-ceiling")
    assert first.error_code == "issuance_limit_reached"
    # The next day there is room again, but the key's answer is the stored refusal
    clock.advance(86400)
    again = issue(services, 1, key="over-the-ceiling")
    assert (again.status, again.body) == (first.status, first.body)


@pytest.mark.parametrize("env", [{"ISSUANCE_CEILING_BY_CURRENCY": "USD=50"}])
def test_an_amount_over_the_whole_ceiling_is_refused_without_counting(services: Any) -> None:
    refused = issue(services, 60)
    assert refused.error_code == "issuance_limit_reached"
    assert issue(services, 50).status == 200


@pytest.mark.parametrize("env", [CEILING])
def test_a_load_past_the_alert_level_is_counted_for_the_alarm(
    services: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the alert at 50 of a 100 ceiling
    assert issue(services, 40).status == 200
    assert "IssuanceCeilingNear" not in emitted_metrics(capsys)
    # When a load takes the day's total past 50, it succeeds and is counted for the alarm
    assert issue(services, 20).status == 200
    assert emitted_metrics(capsys).get("IssuanceCeilingNear") == 1
    # And a load refused by the ceiling is counted too
    assert issue(services, 50).error_code == "issuance_limit_reached"
    assert emitted_metrics(capsys).get("IssuanceLimitReached") == 1


@pytest.fixture
def one_call_at_a_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """DynamoDB applies each call atomically; moto in-process needs a lock for that. Requests
    still interleave freely between their calls."""
    client = aws.client("dynamodb")
    original = client._make_api_call
    lock = threading.Lock()

    def atomic(operation: str, params: dict[str, Any]) -> Any:
        with lock:
            return original(operation, params)

    monkeypatch.setattr(client, "_make_api_call", atomic)
    yield


@pytest.mark.parametrize("env", [{"ISSUANCE_CEILING_BY_CURRENCY": "USD=100"}])
def test_concurrent_loads_never_pass_the_ceiling_together(
    services: Any, one_call_at_a_time: None
) -> None:
    # When 16 issues of 10 arrive at once under a ceiling of 100
    start = threading.Barrier(16)

    def one(_: int) -> Any:
        start.wait(timeout=10)
        return issue(services, 10)

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(one, range(16), timeout=120))
    # Then exactly 10 are issued and 6 refused by the ceiling; none gets a 503
    codes = sorted(a.error_code or "issued" for a in answers)
    assert codes == ["issuance_limit_reached"] * 6 + ["issued"] * 10
