"""The ``giftcard`` command end to end against the local run (``make run``): the command a support
agent or finance user types, signed with their credentials, against the real operator routes;
tables for people, ``--json`` for scripts, exit statuses, and never the number in its output;
``giftcard console`` serving the console's page and signing its calls to the same API.
"""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
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
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", "--url", api.url, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=command_env(key),
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def command_env(key: tuple[str, str] = FINANCE, **extra: str) -> dict[str, str]:
    """The command's environment: the operator's key pair and nothing from this machine's AWS
    files."""
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}",
        "AWS_ACCESS_KEY_ID": key[0],
        "AWS_SECRET_ACCESS_KEY": key[1],
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "COLUMNS": "200",
        **extra,
    }


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


def test_audit_and_reports_through_the_command(api: LocalApi) -> None:
    issued(api, 12)
    run = as_json(giftcard(api, "--json", "audit", "run"))
    assert run["status"] == "finished"
    latest = as_json(giftcard(api, "--json", "audit", "latest"))
    assert latest["audit_id"] == run["audit_id"] and latest["mismatches"] == []
    table = giftcard(api, "report", "liability")
    assert table.returncode == 0 and "USD" in table.stdout
    liability = as_json(
        giftcard(api, "--json", "report", "liability", "--date", latest["as_of"][:10])
    )
    assert liability["audit_id"] == run["audit_id"]
    dormancy = giftcard(api, "report", "dormancy")
    assert dormancy.returncode == 0 and "<1y" in dormancy.stdout
    # Support cannot: exit 1 with the API's refusal
    refused = giftcard(api, "audit", "run", key=SUPPORT)
    assert refused.returncode == 1


# giftcard console ---------------------------------------------------------------------------------

#: Loopback only: never through a proxy configured in the environment.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def start_console(api: LocalApi, *args: str, **env: str) -> tuple[subprocess.Popen[str], str]:
    """``giftcard --url API console ARGS`` running, and the address it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "--url", api.url, "console", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=command_env(**env),
        cwd=ROOT,
    )
    assert process.stdout is not None
    # A guard against a hung start, not a speed check.
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if ready else ""
    if "Gift card console on " not in line:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"the console did not start: {line!r} {err!r}")
    return process, line.split("Gift card console on ", 1)[1].split()[0]


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)  # Ctrl-C
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def fetch(url: str, body: dict[str, Any] | None = None) -> tuple[int, str, str]:
    """(status, content type, text) of a GET, or of a POST as the console's page sends it."""
    headers = {"X-Giftcard-Console": "1"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with LOCAL.open(request, timeout=30) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read().decode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_console_serves_the_page_and_signs_its_calls(api: LocalApi) -> None:
    number, _ = issued(api, 12)
    port = free_port()
    # Given finance starts the console on a port of their choosing, without a browser
    process, url = start_console(api, "--port", str(port), "--no-browser")
    try:
        # Then it serves the page on that port of 127.0.0.1
        assert url == f"http://127.0.0.1:{port}/console/"
        status, content_type, page = fetch(url)
        assert (status, content_type) == (200, "text/html; charset=utf-8")
        assert '<main id="main"' in page
        # and the page's calls reach the local run signed with the operator's credentials
        status, _, session = fetch(url + "api/session")
        assert (status, json.loads(session)["policy"]) == (200, "finance")
        status, _, found = fetch(url + "api/admin/cards/lookup", {"number": number})
        assert status == 200 and json.loads(found)["card"]["last4"] == number[-4:]
    finally:
        # and Ctrl-C stops it cleanly, having printed nothing about the card
        assert stop(process) == 0
    out, err = process.communicate()
    assert number not in out + err


def test_console_opens_the_browser_on_its_page(api: LocalApi, tmp_path: Path) -> None:
    # The browser is whatever $BROWSER names: here a script that writes down what it was given.
    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o700)
    process, url = start_console(api, BROWSER=str(browser))
    try:
        status, _, _ = fetch(url)
        assert status == 200
    finally:
        assert stop(process) == 0
    assert opened.read_text().strip() == url


def test_console_on_a_taken_port_or_without_credentials_exits_2(api: LocalApi) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = giftcard(api, "console", "--port", port, "--no-browser")
    assert busy.returncode == 2
    assert f"cannot serve the console on 127.0.0.1:{port}" in busy.stderr
    anonymous = subprocess.run(
        [sys.executable, "-m", "tools.cli", "--url", api.url, "console", "--no-browser"],
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in command_env().items() if "_ACCESS_KEY" not in k},
            "AWS_EC2_METADATA_DISABLED": "true",
        },
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert anonymous.returncode == 2 and "no AWS credentials" in anonymous.stderr
