"""The ``giftcard`` command end to end against the local run (``make run``): the command a support
agent or finance user types, signed with their credentials, against the real operator routes;
tables for people, ``--json`` for scripts, exit statuses, and never the number in its output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.local_server import LocalApi

ROOT = Path(__file__).resolve().parents[2]
FINANCE = ("AKIACLIFINANCE000001", "cli-finance-secret-0123456789abcdefghijkl")
SUPPORT = ("AKIACLISUPPORT000001", "cli-support-secret-0123456789abcdefghijkl")


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApi]:
    env = {
        "ADMIN_ACCESS_KEY_ID": FINANCE[0],
        "ADMIN_SECRET_ACCESS_KEY": FINANCE[1],
        "SUPPORT_ACCESS_KEY_ID": SUPPORT[0],
        "SUPPORT_SECRET_ACCESS_KEY": SUPPORT[1],
    }
    with LocalApi(env) as running:
        yield running
    running.cleanup()


def giftcard(
    api: LocalApi,
    *args: str,
    stdin: str = "",
    key: tuple[str, str] = FINANCE,
    tmp: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}",
        "AWS_ACCESS_KEY_ID": key[0],
        "AWS_SECRET_ACCESS_KEY": key[1],
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", "--url", api.url, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def issued(api: LocalApi, value: int = 40) -> tuple[str, str]:
    status, card = api.post(
        "/gift_card/issue",
        {"amount": {"value": value, "currency": "USD"}, "customer": {"id": "cli-cust-1"}},
    )
    assert status == 200
    return card["identifier"]["number"], card["identifier"]["pin"]


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_show_from_standard_input_prints_a_table_without_the_number(api: LocalApi) -> None:
    number, _ = issued(api)
    spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    result = giftcard(api, "card", "show", "-", stdin=spaced + "\n", key=SUPPORT)
    assert result.returncode == 0, result.stderr
    assert number[-4:] in result.stdout and "active" in result.stdout
    assert number not in result.stdout + result.stderr
    card = as_json(giftcard(api, "--json", "card", "show", "-", stdin=number, key=SUPPORT))
    assert card["card"]["balance"] == {"value": 40, "currency": "USD"}


def test_freeze_history_and_adjust_through_the_command(api: LocalApi) -> None:
    number, _ = issued(api, 30)
    frozen = as_json(
        giftcard(api, "--json", "card", "freeze", "-", "--reason", "reported lost", stdin=number)
    )
    assert frozen["card"]["frozen"]["reason"] == "reported lost"
    card_id = frozen["card"]["card_id"]
    history = as_json(giftcard(api, "--json", "card", "history", "--card-id", card_id))
    assert [e["kind"] for e in history["entries"]] == ["freeze", "issue"]
    table = giftcard(api, "card", "history", "--card-id", card_id)
    assert table.returncode == 0 and "reported lost" in table.stdout
    adjusted = as_json(
        giftcard(
            api,
            "--json",
            "card",
            "adjust",
            "-",
            "-2.50",
            "USD",
            "--reason",
            "coffee machine refund",
            stdin=number,
        )
    )
    assert adjusted["card"]["balance"] == {"value": 27.5, "currency": "USD"}
    assert number not in json.dumps(adjusted)


def test_refusals_exit_1_with_the_apis_message(api: LocalApi) -> None:
    number, _ = issued(api, 5)
    # Support may not adjust: the operator API's 403, in words
    refused = giftcard(
        api, "card", "adjust", "-", "1", "USD", "--reason", "goodwill", stdin=number, key=SUPPORT
    )
    assert refused.returncode == 1
    assert "forbidden" in (refused.stdout + refused.stderr).lower()
    # A wrong secret is refused the same way, and nothing is echoed
    wrong = giftcard(api, "card", "show", "-", stdin=number, key=(FINANCE[0], "wrong-secret"))
    assert wrong.returncode == 1 and number not in wrong.stdout + wrong.stderr
    # An unknown card_id: card_not_found
    unknown = giftcard(api, "card", "show", "--card-id", "c_" + "1" * 64)
    assert unknown.returncode == 1 and "card_not_found" in unknown.stdout + unknown.stderr


def test_customer_cards_and_erase(api: LocalApi) -> None:
    issued(api, 3)
    cards = as_json(giftcard(api, "--json", "customer", "cards", "cli-cust-1", key=SUPPORT))
    assert len(cards["cards"]) >= 1
    erased = as_json(
        giftcard(api, "--json", "customer", "erase", "cli-cust-1", "--reason", "GDPR request")
    )
    assert erased["erased_cards"] == len(cards["cards"])
    assert as_json(giftcard(api, "--json", "customer", "cards", "cli-cust-1")) == {"cards": []}
