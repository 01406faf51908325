"""The console's pages in Chromium against a stand-in operator API (tests/support/
console_fake_api.py): search, the card and its history, the action dialogs, money and times for
people, the keyboard alone, 200 % zoom, the support look, and
the liability chart over several audited dates. The flows through
the real service are in test_console_local.py."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from tests.support.chromium import expect
from tests.support.console_fake_api import FINANCE_KEY, REGION, SUPPORT_KEY, FakeOperatorApi
from tools.console import ConsoleApp, ConsoleServer

#: One worker runs every browser test (`make test` distributes with --dist loadgroup): one
#: browser, one local run.
pytestmark = pytest.mark.xdist_group("browser")

NUMBER = "7777001234567890"
TYPED = "7777-0012 3456-7890"
CUSTOMER = {"id": "64810476", "name": "Jay Doubleyou", "email": "jay@example.com"}


@dataclass
class Consoles:
    api: FakeOperatorApi
    finance: str
    support: str


def _serve(app: ConsoleApp, servers: list[ConsoleServer]) -> str:
    server = ConsoleServer(0, app)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    servers.append(server)
    return server.url


@pytest.fixture(scope="module")
def consoles() -> Iterator[Consoles]:
    servers: list[ConsoleServer] = []
    with FakeOperatorApi() as api:
        api.add_card(NUMBER, 7000, customer=dict(CUSTOMER), failures=3, hard_locked=True)
        api.add_card("7777009999990001", 1250, currency="EUR", customer=dict(CUSTOMER))
        api.add_card("7777009999990002", 5000_00, currency="JPY", customer=dict(CUSTOMER))

        def app(key: Any) -> ConsoleApp:
            credentials = Credentials(key.access_key_id, key.secret_access_key)
            return ConsoleApp(api.url, credentials, REGION)

        yield Consoles(
            api,
            finance=_serve(app(FINANCE_KEY), servers),
            support=_serve(app(SUPPORT_KEY), servers),
        )
        for server in servers:
            server.shutdown()
            server.server_close()


def find_card(visit: Any, console: str, typed: str = TYPED) -> Any:
    page = visit.page
    page.goto(console)
    page.get_by_label("Card number or card id").fill(typed)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/card\?card_id=c_"))
    page.wait_for_selector("#history tbody tr")
    return page


def test_a_pasted_number_opens_the_card_by_its_id_only(consoles, visit, screenshots: Path) -> None:
    seen = visit()
    page = seen.page
    page.goto(consoles.finance)
    page.locator("#query").wait_for()  # drawn once the session is known
    page.screenshot(path=screenshots / "search.png")
    # Given the number pasted with dashes and spaces, when the agent searches
    page = find_card(seen, consoles.finance)
    # Then the card opens by card_id, with its state, money, PIN lock and customer
    assert page.url.endswith("/card?card_id=c_fake0001")
    assert page.get_by_role("heading", level=1).inner_text() == "Card •••• 7890"
    details = page.locator("dl.details").inner_text()
    assert "$70.00" in details and "Jay Doubleyou" in details
    assert "locked until an operator unlocks it" in details
    # and the history's newest entry shows the balance after it
    first = page.locator("#history tbody tr").first
    assert first.locator("th").inner_text() == "Issued"
    assert "$70.00" in first.inner_text()
    # Back on the search page, the field is empty (the browser restored no number)
    page.go_back()
    page.wait_for_selector("#query")
    assert page.locator("#query").input_value() == ""
    seen.assert_never_shown(NUMBER)


def test_a_wrong_number_is_said_in_words(consoles, visit) -> None:
    page = visit().page
    page.goto(consoles.finance)
    page.get_by_label("Card number or card id").fill("1234 5678 9012 3456")
    page.get_by_role("button", name="Search").click()
    assert page.get_by_role("alert").inner_text() == "No card has that number or card id."
    page.get_by_label("Card number or card id").fill("12-34")
    page.get_by_role("button", name="Search").click()
    assert "12 to 19 digits" in page.get_by_role("alert").inner_text()


def test_a_customer_cards_show_money_in_each_currency(consoles, visit) -> None:
    page = visit().page
    page.goto(consoles.finance)
    page.get_by_label("a customer's cards").check()
    page.get_by_label("Customer id").fill(CUSTOMER["id"])
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#results tbody tr")
    rows.first.wait_for()
    text = page.locator("#results").inner_text()
    assert "$70.00" in text and "€12.50" in text and "¥5,000" in text
    # Each card links by card_id
    hrefs = [a.get_attribute("href") for a in page.locator("#results tbody a").all()]
    assert all(re.fullmatch(r"/console/card\?card_id=c_fake\d{4}", href or "") for href in hrefs)


def test_times_are_local_with_utc_on_hover(consoles, visit) -> None:
    page = find_card(visit(), consoles.finance)
    created = page.locator("dl.details time").first
    # 2026-11-01T09:00:00Z in New York (EST, UTC-5)
    assert created.inner_text() == "Nov 1, 2026, 4:00:00 AM EST"
    assert created.get_attribute("title") == "2026-11-01 09:00:00 UTC"


def test_freeze_with_the_keyboard_alone(consoles, visit) -> None:
    page = find_card(visit(), consoles.finance, "c_fake0002")
    # Tab from the top of the page to the action, as a keyboard user would
    page.locator("h1").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Freeze card":
            break
    else:
        pytest.fail("the Freeze card button is not reachable with Tab")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    # The dialog says what will change and starts in the reason
    assert "Frozen No Yes" in re.sub(r"\s+", " ", dialog.locator("table.changes").inner_text())
    assert page.evaluate("document.activeElement.id") == "reason"
    page.keyboard.type("ab")
    page.keyboard.press("Tab")  # Cancel
    page.keyboard.press("Tab")  # Freeze card
    page.keyboard.press("Enter")
    assert dialog.get_by_role("alert").inner_text() == "Give a reason of at least 3 characters."
    page.locator("#reason").focus()
    page.keyboard.type("c: reported stolen by phone")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".notice")).to_have_text("Card frozen.")
    assert page.locator(".badge.frozen").inner_text() == "frozen"
    assert page.locator("#history tbody tr").first.locator("th").inner_text() == "Frozen"
    # Escape closes a dialog without changing anything, focus back on its button
    page.locator("#action-unfreeze").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    assert page.get_by_role("dialog").count() == 0
    assert page.evaluate("document.activeElement.id") == "action-unfreeze"


def test_adjust_shows_the_new_balance_and_keeps_card_numbers_out_of_reasons(
    consoles, visit, screenshots: Path
) -> None:
    seen = visit()
    page = find_card(seen, consoles.finance, "c_fake0002")  # EUR 12.50
    page.get_by_role("button", name="Adjust balance").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("take money off").check()
    dialog.get_by_label("Amount (EUR)").fill("2.5")
    assert "€12.50 €10.00" in re.sub(r"\s+", " ", dialog.locator("table.changes").inner_text())
    dialog.get_by_label("Reason").fill("refund of 7777 0012 3456 7890")
    dialog.get_by_role("button", name="Adjust balance").click()
    assert "12 or more digits" in dialog.get_by_role("alert").inner_text()
    dialog.get_by_label("Reason").fill("double charge at store 12")
    expect(dialog.get_by_role("alert")).to_be_hidden()  # the refusal goes once the reason changes
    page.screenshot(path=screenshots / "adjust-dialog.png")  # no card number in the docs
    dialog.get_by_role("button", name="Adjust balance").click()
    expect(page.locator(".notice")).to_have_text("Balance adjusted: now €10.00.")
    assert page.locator("#balance").inner_text() == "€10.00"
    newest = page.locator("#history tbody tr").first
    assert newest.locator("th").inner_text() == "Adjusted"
    assert "-€2.50" in newest.inner_text() and "€10.00" in newest.inner_text()
    seen.assert_never_shown(NUMBER)


def test_support_sees_no_finance_action_or_page(consoles, visit) -> None:
    page = find_card(visit(), consoles.support, "c_fake0001")
    actions = page.locator(".actions button").all_inner_texts()
    assert "Unlock PIN" in actions and any(a in actions for a in ("Freeze card", "Unfreeze card"))
    assert not {"Adjust balance", "Set expiry", "Erase customer"} & set(actions)
    nav = page.get_by_role("navigation").inner_text()
    assert "Search" in nav and "Liability" not in nav and "Dormancy" not in nav
    assert "support policy" in page.locator("#who").inner_text()
    page.goto(consoles.support + "liability")
    assert page.get_by_role("heading", level=1).inner_text() == "This page is for finance"


def test_liability_is_charted_over_the_audited_dates(consoles, visit, screenshots: Path) -> None:
    # Given audits on three nights, the money growing in between
    api = consoles.api
    grown = api.add_card("7777009999990004", 0)  # the other tests' cards stay as they are
    api.add_card("7777009999990005", 2500, idle_years=2)  # untouched for two years
    api.audit_on(f"{_days_ago(3)}T02:00:00Z")
    api.cards[grown].balance += 2000
    api.audit_on(f"{_days_ago(2)}T02:00:00Z")
    api.cards[grown].held += 1500
    api.audit_on(f"{_days_ago(1)}T02:00:00Z")
    page = visit().page
    page.goto(consoles.finance + "liability")
    # Then each currency has a chart with one column per audited date, spendable and held stacked
    usd = page.get_by_role("img", name=re.compile(r"^Outstanding in USD"))
    usd.wait_for()
    assert usd.locator("g.column").count() == 3
    figure = page.locator("figure").filter(has=usd)
    figure.get_by_text("Figures as a table").click()
    assert figure.locator("table tbody tr").last.inner_text() == (
        f"{_day_label(1)}\t$115.00\t$15.00\t$130.00"
    )
    figures = page.locator("#liability-figures").inner_text()
    assert "EUR" in figures and "JPY" in figures and "¥5,000" in figures
    page.screenshot(path=screenshots / "liability.png", full_page=True)
    page.goto(consoles.finance + "dormancy")
    usd_bars = page.locator("section.dormancy[data-currency=USD]")
    usd_bars.locator("svg.chart").wait_for()
    # and dormancy splits the same money by time since last activity
    bars = usd_bars.inner_text()
    assert "$105.00 · 2 card(s), under 1 year" in bars
    assert "$25.00 · 1 card(s), 2\N{EN DASH}3 years" in bars
    page.screenshot(path=screenshots / "dormancy.png", full_page=True)


def _days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%d")


def _day_label(days: int) -> str:
    day = datetime.now(UTC) - timedelta(days=days)
    return f"{day.strftime('%b')} {day.day}"


def test_pages_are_readable_at_200_percent_zoom(consoles, visit) -> None:
    # A 1280-pixel window at 200 % zoom lays out like a 640-pixel one at twice the density.
    page = find_card(
        visit(viewport={"width": 640, "height": 900}, device_scale_factor=2),
        consoles.finance,
        "c_fake0003",
    )
    for path in ("card?card_id=c_fake0003", "events"):
        page.goto(consoles.finance + path)
        page.wait_for_selector("table")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path}: the page scrolls sideways at 200 % zoom"
        assert page.get_by_role("navigation").is_visible()
