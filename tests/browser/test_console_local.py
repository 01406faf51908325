"""The console in Chromium against the local run (``make run``: the real gateway, handlers and
moto): a support agent resolves "my card was stolen" (find it, freeze it, the webhook refuses
it), finance resolves "my balance is wrong" (adjust it, history and balance follow) and reads
liability after an audit; the events page shows what happened; the support look has no finance
action; bad credentials show the error page. No card number in any URL, title or browser storage
on the way."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from tests.support.chromium import expect
from tests.support.local_server import LocalApi
from tools.console import ConsoleApp, ConsoleServer

#: One worker runs every browser test (`make test` distributes with --dist loadgroup): one
#: browser, one local run.
pytestmark = pytest.mark.xdist_group("browser")

FINANCE = ("AKIALOCALFINANCE0001", "local-finance-secret-0123456789abcdefghij")
SUPPORT = ("AKIALOCALSUPPORT0001", "local-support-secret-0123456789abcdefghij")
ENV = {
    "ADMIN_ACCESS_KEY_ID": FINANCE[0],
    "ADMIN_SECRET_ACCESS_KEY": FINANCE[1],
    "SUPPORT_ACCESS_KEY_ID": SUPPORT[0],
    "SUPPORT_SECRET_ACCESS_KEY": SUPPORT[1],
}
CUSTOMER = {"id": "64810476", "email": "jay@example.com", "name": "Jay Doubleyou"}


@pytest.fixture(scope="module")
def local() -> Iterator[LocalApi]:
    with LocalApi(env=ENV) as api:
        yield api


def issue(api: LocalApi, value: float = 50) -> tuple[str, str]:
    """A new funded card: (number, PIN)."""
    status, body = api.post(
        "/gift_card/issue",
        {
            "amount": {"value": value, "currency": "USD"},
            "customer": CUSTOMER,
            "metadata": {"original_operation": "refund", "store_id": "store-berlin-1"},
            "idempotence_key": uuid.uuid4().hex,
        },
    )
    assert status == 200, body
    return body["identifier"]["number"], body["identifier"]["pin"]


def balance(api: LocalApi, number: str, pin: str) -> tuple[int, Any]:
    return api.post(
        "/gift_card/balance",
        {"identifier": {"number": number, "pin": pin}, "metadata": {"store_id": "store-berlin-1"}},
    )


def open_card(seen: Any, console: str, number: str) -> Any:
    page = seen.page
    page.goto(console)
    spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    page.get_by_label("Card number or card id").fill(spaced)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/card\?card_id=c_"))
    page.wait_for_selector("#history tbody tr")
    return page


def act(page: Any, action: str, reason: str, done: str, fill: dict[str, str] | None = None) -> None:
    """Open the action's dialog, fill it, confirm, and wait for the page to say ``done``."""
    page.get_by_role("button", name=action).click()
    dialog = page.get_by_role("dialog")
    for label, value in (fill or {}).items():
        dialog.get_by_label(label).fill(value)
    dialog.get_by_label("Reason").fill(reason)
    dialog.get_by_role("button", name=action).click()
    expect(page.locator(".notice")).to_have_text(done)


def newest(page: Any) -> tuple[str, str]:
    row = page.locator("#history tbody tr").first
    return row.locator("th").inner_text(), row.inner_text()


def test_a_stolen_card_is_found_and_frozen_and_the_webhook_refuses_it(
    local: LocalApi, visit: Any, screenshots: Path
) -> None:
    number, pin = issue(local, 50)
    seen = visit()
    # Given the agent types the number the customer reads out, spaced in fours
    page = open_card(seen, f"{local.url}/console/", number)
    # Then the card and its history show, newest first, with the balance after each entry
    assert page.get_by_role("heading", level=1).inner_text() == f"Card •••• {number[-4:]}"
    assert page.locator("#balance").inner_text() == "$50.00"
    kind, row = newest(page)
    assert kind == "Issued" and "$50.00" in row
    # When the agent freezes it with a reason
    act(page, "Freeze card", "reported stolen by phone", "Card frozen.")
    assert page.locator(".badge.frozen").is_visible()
    kind, row = newest(page)
    assert kind == "Frozen" and "reported stolen by phone" in row
    page.screenshot(path=screenshots / "card.png", full_page=True)
    # Then NewStore's balance webhook refuses the card
    status, body = balance(local, number, pin)
    assert (status, body["error_code"]) == (400, "card_frozen")
    # and unfreezing lets it be spent again
    act(page, "Unfreeze card", "found in the other coat", "Card unfrozen.")
    assert balance(local, number, pin)[0] == 200
    # and the events page shows what happened, linked to the card by card_id
    page.get_by_role("link", name="Recent events").click()
    # The local run publishes events from the table's stream shortly after each change.
    for _ in range(40):
        page.locator("#events tbody tr").first.wait_for()
        events = page.locator("#events").inner_text()
        if "Gift Card Unfrozen" in events:
            break
        page.wait_for_timeout(250)
        page.reload()
    assert "Gift Card Frozen" in events and "Gift Card Unfrozen" in events
    page.screenshot(path=screenshots / "events.png", full_page=True)
    seen.assert_never_shown(number)


def test_a_wrong_balance_is_adjusted_and_history_follows(local: LocalApi, visit: Any) -> None:
    number, pin = issue(local, 50)
    seen = visit()
    page = open_card(seen, f"{local.url}/console/", number)
    act(
        page,
        "Adjust balance",
        "store refund never reached the card",
        "Balance adjusted: now $62.50.",
        {"Amount (USD)": "12.50"},
    )
    assert page.locator("#balance").inner_text() == "$62.50"
    kind, row = newest(page)
    assert kind == "Adjusted" and "$12.50" in row and "$62.50" in row
    assert "local-operator" in row  # who did it
    status, body = balance(local, number, pin)
    assert (status, body["value"]) == (200, 62.5)
    seen.assert_never_shown(number)


def test_finance_reads_liability_after_an_audit(local: LocalApi, visit: Any) -> None:
    issue(local, 20)
    page = visit().page
    page.goto(f"{local.url}/console/liability")
    page.get_by_role("button", name="Run the audit now").click()
    chart = page.locator("#liability-charts svg.chart")
    chart.first.wait_for()
    assert "Outstanding in USD" in chart.first.get_attribute("aria-label")
    figures = page.locator("#liability-figures tbody tr").first.inner_text()
    assert figures.startswith("USD")
    assert "No mismatches" in page.locator("#mismatches").inner_text()
    page.goto(f"{local.url}/console/dormancy")
    page.locator("section.dormancy svg.chart").first.wait_for()
    assert "under 1 year" in page.locator("section.dormancy").first.inner_text()


def test_the_support_look_has_no_finance_action(
    local: LocalApi, visit: Any, screenshots: Path
) -> None:
    number, _ = issue(local, 30)
    page = open_card(visit(), f"{local.url}/support-console/", number)
    actions = page.locator(".actions button").all_inner_texts()
    assert "Freeze card" in actions
    assert not {"Adjust balance", "Set expiry", "Erase customer"} & set(actions)
    assert "Liability" not in page.get_by_role("navigation").inner_text()
    page.screenshot(path=screenshots / "card-support.png", full_page=True)


@pytest.mark.parametrize("credentials", ["wrong", "missing"])
def test_bad_credentials_show_the_error_page(
    local: LocalApi, visit: Any, screenshots: Path, credentials: str
) -> None:
    keys = Credentials(FINANCE[0], "not-the-secret") if credentials == "wrong" else None
    server = ConsoleServer(0, ConsoleApp(local.url, keys, "us-east-1"))
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        page = visit().page
        page.goto(server.url)
        page.locator("#error-page").wait_for()
        words = page.locator(".error-words").inner_text()
        if credentials == "wrong":
            assert "refused the console's AWS credentials" in words
            page.screenshot(path=screenshots / "error.png")
        else:
            assert "No AWS credentials were found for the console" in words
        assert page.get_by_role("navigation").is_hidden()
    finally:
        server.shutdown()
        server.server_close()
