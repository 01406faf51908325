"""The ``giftcard`` command against a stand-in operator API (``tests/support/fake_operator_api.py``)
that verifies every SigV4 signature as the local run does: what each command sends (the number
only in the body, never the URL), what it prints (tables, ``--json``), its exit status, and that a
card number never appears in its output, errors or requests' URLs."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from giftcard.cards import generate_number
from tests.support.fake_operator_api import (
    ARN,
    AUDIT,
    CARD_ID,
    KEY_ID,
    SECRET,
    FakeOperatorApi,
)
from tools.cli import client as cli_client
from tools.cli.main import main

NUMBER = generate_number("9999", 16)
SPACED = " ".join(NUMBER[i : i + 4] for i in range(0, 16, 4))
DASHED = "-".join(NUMBER[i : i + 4] for i in range(0, 16, 4))


@pytest.fixture(autouse=True)
def operator_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The operator's credentials from the environment; nothing from the machine's AWS files."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # the local URL signs for us-east-1
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def api() -> Iterator[FakeOperatorApi]:
    with FakeOperatorApi() as fake:
        yield fake


class Result:
    def __init__(self, status: int, out: str, err: str) -> None:
        self.status, self.out, self.err = status, out, err

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def giftcard(api: FakeOperatorApi | None, *argv: str, stdin: str = "") -> Result:
    out, err = io.StringIO(), io.StringIO()
    url = ["--url", api.url] if api is not None else []
    status = main([*url, *argv], stdin=io.StringIO(stdin), stdout=out, stderr=err)
    result = Result(status, out.getvalue(), err.getvalue())
    # Whatever happened, the number is nowhere but in request bodies.
    targets = [r.target for r in api.received] if api is not None else []
    for text in (result.out, result.err, *targets):
        assert NUMBER not in text and SPACED not in text and DASHED not in text
    return result


# Looking a card up -------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", [NUMBER, SPACED, DASHED], ids=["plain", "spaces", "dashes"])
def test_show_sends_the_number_in_the_body_and_prints_the_card(
    api: FakeOperatorApi, typed: str
) -> None:
    result = giftcard(api, "card", "show", typed)
    assert result.status == 0
    assert api.last.method == "POST"
    assert api.last.target == "/admin/cards/lookup"
    assert api.last.body == {"number": NUMBER}
    assert api.last.caller == ARN
    for shown in (CARD_ID, "7890", "active, FROZEN", "70.00 USD", "30.50 USD", "reported stolen"):
        assert shown in result.out
    assert "LOCKED until an operator unlocks it" in result.out
    assert "Jay Doubleyou" in result.out


def test_a_number_from_standard_input_stays_out_of_the_command_line(
    api: FakeOperatorApi,
) -> None:
    result = giftcard(api, "card", "show", "-", stdin=f"{SPACED}\n")
    assert result.status == 0
    assert api.last.body == {"number": NUMBER}


def test_a_card_id_is_sent_as_card_id(api: FakeOperatorApi) -> None:
    assert giftcard(api, "card", "show", "--card-id", CARD_ID).status == 0
    assert api.last.body == {"card_id": CARD_ID}
    assert giftcard(api, "card", "freeze", CARD_ID, "--reason", "lost").status == 0
    assert api.last.body == {"card_id": CARD_ID, "reason": "lost"}


def test_json_prints_the_answer_as_the_api_gave_it(api: FakeOperatorApi) -> None:
    result = giftcard(api, "card", "show", NUMBER, "--json")
    assert result.status == 0
    assert result.json["card"]["card_id"] == CARD_ID
    assert result.json["card"]["held"] == {"value": 30.5, "currency": "USD"}
    # --json before the command works the same
    assert giftcard(api, "--json", "card", "show", NUMBER).json == result.json


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("12345", "12 to 19 digits"),
        (NUMBER[:-1] + str((int(NUMBER[-1]) + 1) % 10), "check digit"),
        ("c_bad id", "card id"),
    ],
    ids=["short", "luhn", "bad-card-id"],
)
def test_a_mistyped_card_is_refused_before_anything_is_sent(
    api: FakeOperatorApi, typed: str, message: str
) -> None:
    result = giftcard(api, "card", "show", typed)
    assert result.status == 2
    assert message in result.err
    assert typed not in result.err + result.out
    assert api.received == []


def test_empty_standard_input_is_refused(api: FakeOperatorApi) -> None:
    result = giftcard(api, "card", "show", "-", stdin="")
    assert result.status == 2
    assert "standard input" in result.err


def test_history_pages_and_prints_entries(api: FakeOperatorApi) -> None:
    result = giftcard(api, "card", "history", NUMBER, "--limit", "2", "--cursor", "cur-1")
    assert result.status == 0
    assert api.last.target == "/admin/cards/history"
    assert api.last.body == {"number": NUMBER, "limit": 2, "cursor": "cur-1"}
    assert "-12.50 USD" in result.out and "57.50 USD" in result.out
    assert "mistaken load [bold]corrected[/bold]" in result.out  # text, not rich markup
    assert "store-9" in result.out
    assert "--cursor cur-2" in result.out


def test_history_limit_is_checked(api: FakeOperatorApi) -> None:
    assert giftcard(api, "card", "history", NUMBER, "--limit", "500").status == 2
    assert api.received == []


# Operator actions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "path"),
    [
        ("freeze", "/admin/cards/freeze"),
        ("unfreeze", "/admin/cards/unfreeze"),
        ("unlock-pin", "/admin/cards/unlock_pin"),
    ],
)
def test_actions_send_the_card_and_the_reason(
    api: FakeOperatorApi, command: str, path: str
) -> None:
    result = giftcard(api, "card", command, "-", "--reason", "customer called", stdin=NUMBER)
    assert result.status == 0
    assert (api.last.target, api.last.body) == (
        path,
        {"number": NUMBER, "reason": "customer called"},
    )
    assert CARD_ID in result.out


def test_an_action_without_a_reason_is_a_usage_error(
    api: FakeOperatorApi, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        giftcard(api, "card", "freeze", NUMBER)
    assert exit_info.value.code == 2
    assert "--reason" in capsys.readouterr().err
    assert api.received == []


@pytest.mark.parametrize(
    "reason", ["no", f"typed the card {NUMBER} by mistake", "x" * 201], ids=str.__len__
)
def test_a_reason_the_api_would_refuse_is_refused_here_and_not_echoed(
    api: FakeOperatorApi, reason: str
) -> None:
    result = giftcard(api, "card", "freeze", CARD_ID, "--reason", reason)
    assert result.status == 2
    assert "--reason" in result.err
    assert reason not in result.err
    assert api.received == []


def test_adjust_sends_a_signed_amount_and_an_idempotency_key(api: FakeOperatorApi) -> None:
    result = giftcard(api, "card", "adjust", NUMBER, "-12.50", "usd", "--reason", "wrong load")
    assert result.status == 0
    body = api.last.body
    assert api.last.target == "/admin/cards/adjust"
    assert body["number"] == NUMBER
    assert body["amount"] == {"value": -12.5, "currency": "USD"}
    assert body["reason"] == "wrong load"
    assert len(body["idempotency_key"]) >= 16
    assert "adjust" in result.out and "-12.50 USD" in result.out
    # A given key is sent as it is; another run without one gets a new key
    giftcard(
        api, "card", "adjust", NUMBER, "5", "USD", "--reason", "again", "--idempotency-key", "k-1"
    )
    assert api.last.body["idempotency_key"] == "k-1"
    giftcard(api, "card", "adjust", NUMBER, "5", "USD", "--reason", "again")
    assert api.last.body["idempotency_key"] not in (body["idempotency_key"], "k-1")


def test_adjust_amount_keeps_its_exact_decimals(api: FakeOperatorApi) -> None:
    giftcard(api, "card", "adjust", NUMBER, "0.10", "USD", "--reason", "cent fix")
    # A JSON number with the exact decimal, never a float's digits nor a string
    assert b'"amount": {"value": 0.1, "currency": "USD"}' in api.last.raw
    assert api.last.body["amount"]["value"] == Decimal("0.1")


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [("0", "USD", "never 0"), ("ten", "USD", "AMOUNT"), ("5", "DOLLARS", "CURRENCY")],
)
def test_adjust_input_is_checked(
    api: FakeOperatorApi, amount: str, currency: str, message: str
) -> None:
    result = giftcard(api, "card", "adjust", NUMBER, amount, currency, "--reason", "fix it")
    assert result.status == 2
    assert message in result.err
    assert api.received == []


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("2027-12-31", "2027-12-31T23:59:59Z"),
        ("2027-12-31T10:00:00Z", "2027-12-31T10:00:00Z"),
        ("none", None),
    ],
)
def test_expiry_sends_a_utc_time_or_null(
    api: FakeOperatorApi, typed: str, sent: str | None
) -> None:
    result = giftcard(api, "card", "expiry", NUMBER, typed, "--reason", "promo extended")
    assert result.status == 0
    assert api.last.body == {"number": NUMBER, "expires_at": sent, "reason": "promo extended"}


def test_expiry_in_another_zone_is_refused(api: FakeOperatorApi) -> None:
    result = giftcard(api, "card", "expiry", NUMBER, "2027-12-31T10:00:00+02:00", "--reason", "x y")
    assert result.status == 2
    assert "UTC" in result.err


# Customers ---------------------------------------------------------------------------------------


def test_customer_cards_lists_them(api: FakeOperatorApi) -> None:
    result = giftcard(api, "customer", "cards", "64810476")
    assert result.status == 0
    assert (api.last.target, api.last.body) == (
        "/admin/customers/cards",
        {"customer_id": "64810476"},
    )
    assert result.out.count(CARD_ID) == 2
    assert "active, FROZEN" in result.out


def test_customer_erase_from_standard_input(api: FakeOperatorApi) -> None:
    result = giftcard(api, "customer", "erase", "-", "--reason", "GDPR request", stdin="64810476\n")
    assert result.status == 0
    assert api.last.body == {"customer_id": "64810476", "reason": "GDPR request"}
    assert "erased from 2 cards" in result.out
    assert "64810476" not in result.out


# Reports and audits ------------------------------------------------------------------------------


def test_liability_for_a_date_uses_the_query_string(api: FakeOperatorApi) -> None:
    result = giftcard(api, "report", "liability", "--date", "2026-11-30")
    assert result.status == 0
    assert (api.last.method, api.last.path, api.last.query) == (
        "GET",
        "/admin/reports/liability",
        {"date": "2026-11-30"},
    )
    assert api.last.body is None
    assert "1,244.50 USD" in result.out
    assert "5,000 JPY" in result.out  # yen have no decimals
    assert "a-42" in result.out


def test_liability_without_a_date_asks_for_the_latest(api: FakeOperatorApi) -> None:
    assert giftcard(api, "report", "liability").status == 0
    assert api.last.target == "/admin/reports/liability"
    assert giftcard(api, "report", "liability", "--date", "30/11/2026").status == 2


def test_dormancy_prints_its_buckets(api: FakeOperatorApi) -> None:
    result = giftcard(api, "report", "dormancy", "--date", "2026-11-30")
    assert result.status == 0
    assert api.last.target == "/admin/reports/dormancy?date=2026-11-30"
    assert "3-5y" in result.out and "244.50 USD" in result.out


def test_audit_run_and_latest(api: FakeOperatorApi) -> None:
    started = giftcard(api, "audit", "run")
    assert started.status == 0
    assert (api.last.method, api.last.target, api.last.body) == ("POST", "/admin/audit/run", {})
    assert "a-43: started" in started.out
    latest = giftcard(api, "audit", "latest")
    assert latest.status == 0
    assert api.last.method == "GET"
    assert "balance differs from its entries" in latest.out
    assert "Liability" in latest.out and "Dormancy" in latest.out
    assert giftcard(api, "audit", "latest", "--json").json == AUDIT


# Failures ----------------------------------------------------------------------------------------


def test_an_api_error_exits_1_with_its_message(api: FakeOperatorApi) -> None:
    api.answers["/admin/cards/lookup"] = (
        404,
        {"error_code": "card_not_found", "message": "No gift card with this number exists."},
    )
    result = giftcard(api, "card", "show", NUMBER)
    assert result.status == 1
    assert "No gift card with this number exists. (card_not_found, HTTP 404)" in result.err
    assert result.out == ""


def test_an_api_error_with_json_is_the_envelope_on_stdout(api: FakeOperatorApi) -> None:
    envelope = {"error_code": "insufficient_funds", "message": "Not enough money on the card."}
    api.answers["/admin/cards/adjust"] = (400, envelope)
    result = giftcard(api, "card", "adjust", NUMBER, "-500", "USD", "--reason", "x y", "--json")
    assert result.status == 1
    assert result.json == envelope


def test_a_service_failure_exits_3_and_offers_the_key_to_retry_an_adjustment(
    api: FakeOperatorApi,
) -> None:
    api.answers["/admin/cards/adjust"] = (503, {"error_code": "retry_error", "message": "busy"})
    result = giftcard(
        api, "card", "adjust", NUMBER, "5", "USD", "--reason", "fix", "--idempotency-key", "k-9"
    )
    assert result.status == 3
    assert "--idempotency-key k-9" in result.err


def test_a_wrong_secret_is_forbidden(api: FakeOperatorApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-operator-secret-00000000000000000")
    result = giftcard(api, "card", "show", NUMBER)
    assert result.status == 1
    assert "(forbidden, HTTP 403)" in result.err
    assert "signature" in result.err


def test_an_unknown_access_key_is_forbidden(
    api: FakeOperatorApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASOMEONEELSE00000")
    result = giftcard(api, "report", "liability")
    assert result.status == 1
    assert "forbidden" in result.err


def test_no_credentials_is_a_usage_error(
    api: FakeOperatorApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = giftcard(api, "card", "show", NUMBER)
    assert result.status == 2
    assert "no AWS credentials" in result.err
    assert api.received == []


def test_an_unknown_profile_is_a_usage_error(api: FakeOperatorApi) -> None:
    result = giftcard(api, "--profile", "nobody", "card", "show", NUMBER)
    assert result.status == 2
    assert "nobody" in result.err


def test_an_unreachable_api_exits_3() -> None:
    from tests.support.local_server import free_port

    result = giftcard(None, "--url", f"http://127.0.0.1:{free_port()}", "card", "show", NUMBER)
    assert result.status == 3
    assert "cannot reach" in result.err


def test_no_target_is_a_usage_error() -> None:
    result = giftcard(None, "card", "show", NUMBER)
    assert result.status == 2
    assert "--url" in result.err


def test_url_and_stack_together_are_refused(api: FakeOperatorApi) -> None:
    with pytest.raises(SystemExit) as exit_info:
        giftcard(api, "--stack", "GiftCards", "card", "show", NUMBER)
    assert exit_info.value.code == 2


def test_the_installed_command_is_this_main() -> None:
    import importlib
    import tomllib

    root = Path(__file__).resolve().parents[2]
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["giftcard"].partition(":")
    assert getattr(importlib.import_module(module), name) is main


def test_an_unknown_profile_for_a_bulk_command_is_a_usage_error(tmp_path: Path) -> None:
    result = giftcard(None, "--profile", "nobody", "cards", "export", str(tmp_path / "x.csv"))
    assert result.status == 2
    assert "no AWS profile named nobody" in result.err


# Finding the API ---------------------------------------------------------------------------------


def test_the_stack_output_names_the_api(
    api: FakeOperatorApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import mock_aws

    with mock_aws():
        import boto3

        # moto swaps in fake credentials; the operator signs with the real (test) ones
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"OperatorApiUrl": {"Value": api.url + "/"}},
        }
        cloudformation.create_stack(StackName="GiftCards", TemplateBody=json.dumps(template))
        cloudformation.create_stack(
            StackName="Other", TemplateBody=json.dumps({**template, "Outputs": {}})
        )
        shown = giftcard(
            None, "--stack", "GiftCards", "--region", "us-east-1", "card", "show", NUMBER
        )
        missing = giftcard(
            None, "--stack", "Other", "--region", "us-east-1", "card", "show", NUMBER
        )
        absent = giftcard(None, "--stack", "Nope", "--region", "us-east-1", "card", "show", NUMBER)
    assert shown.status == 0
    assert api.last.target == "/admin/cards/lookup"
    assert (missing.status, "OperatorApiUrl" in missing.err) == (2, True)
    assert (absent.status, "cannot read stack Nope" in absent.err) == (3, True)


@pytest.mark.parametrize(
    ("url", "explicit", "profile_region", "region"),
    [
        (
            "https://abc123.execute-api.eu-central-1.amazonaws.com/prod",
            None,
            "us-west-2",
            "eu-central-1",
        ),
        ("http://127.0.0.1:8000", None, "eu-west-1", "us-east-1"),
        ("https://admin.giftcards.example.com", None, "eu-west-1", "eu-west-1"),
        ("https://admin.giftcards.example.com", None, None, "us-east-1"),
        ("http://127.0.0.1:8000", "ap-south-1", "eu-west-1", "ap-south-1"),
    ],
)
def test_the_signing_region(
    url: str, explicit: str | None, profile_region: str | None, region: str
) -> None:
    assert cli_client.signing_region(url, explicit, profile_region) == region


def test_a_region_the_local_run_does_not_use_is_refused_by_it(api: FakeOperatorApi) -> None:
    result = giftcard(api, "--region", "eu-west-1", "card", "show", NUMBER)
    assert result.status == 1
    assert "us-east-1" in result.err


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        (
            "https://x.execute-api.us-east-1.amazonaws.com/prod/",
            "https://x.execute-api.us-east-1.amazonaws.com/prod",
        ),
        ("http://127.0.0.1:8000/admin", "http://127.0.0.1:8000"),
    ],
)
def test_the_api_base_url(given: str, base: str) -> None:
    assert cli_client.api_base(given) == base


def test_a_url_that_is_not_http_is_refused() -> None:
    result = giftcard(None, "--url", "127.0.0.1:8000", "card", "show", NUMBER)
    assert result.status == 2
