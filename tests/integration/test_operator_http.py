"""The operator API over real HTTP against the local run (``make run``): every route signed with
SigV4 by botocore as the ``giftcard`` command signs, refusals as API Gateway's ``AWS_IAM`` gives
them (403 forbidden: unsigned, wrong secret, expired, support calling a finance route), and the
webhooks honouring what operators did (frozen card, unlocked PIN), the events of it all at
``GET /admin/events/recent``.

Given a local run with known operator credentials (finance and support), When operators call
the back office, Then answers are the contract's, and no card number or PIN is in the run's logs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.local_server import LocalApi

FINANCE_KEY = ("AKIALOCALFINANCE0001", "finance-local-secret-0123456789abcdefghij")
SUPPORT_KEY = ("AKIALOCALSUPPORT0001", "support-local-secret-0123456789abcdefghij")
ENV = {
    "ADMIN_ACCESS_KEY_ID": FINANCE_KEY[0],
    "ADMIN_SECRET_ACCESS_KEY": FINANCE_KEY[1],
    "SUPPORT_ACCESS_KEY_ID": SUPPORT_KEY[0],
    "SUPPORT_SECRET_ACCESS_KEY": SUPPORT_KEY[1],
}
REASON = "customer called about it"


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApi]:
    with LocalApi(ENV) as running:
        yield running
    running.cleanup()


def signed(
    api: LocalApi,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: tuple[str, str] = FINANCE_KEY,
    at: datetime | None = None,
) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else None
    request = AWSRequest(
        method=method,
        url=api.url + path,
        data=raw,
        headers={"Content-Type": "application/json"} if raw is not None else {},
    )
    signer = SigV4Auth(Credentials(*key), "execute-api", "us-east-1")
    if at is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=at):
            signer.add_auth(request)
    status, _, answer = api.request(method, path, raw, dict(request.headers.items()))
    return status, json.loads(answer, parse_float=Decimal)


def issued(api: LocalApi, value: int = 50) -> tuple[str, str]:
    status, card = api.post(
        "/gift_card/issue",
        {
            "amount": {"value": value, "currency": "USD"},
            "customer": {"id": "cust-77", "name": "Holder Seven", "email": "holder.7@example.net"},
        },
    )
    assert status == 200, card
    return card["identifier"]["number"], card["identifier"]["pin"]


def test_a_support_agent_looks_up_and_freezes_a_card_and_the_webhooks_refuse_it(
    api: LocalApi,
) -> None:
    number, pin = issued(api)
    # Given a support agent's signed lookup by number
    status, found = signed(api, "POST", "/admin/cards/lookup", {"number": number}, key=SUPPORT_KEY)
    assert status == 200, found
    card = found["card"]
    assert card["card_id"].startswith("c_") and card["last4"] == number[-4:]
    assert card["balance"] == {"value": 50, "currency": "USD"} and card["frozen"] is None
    assert number not in json.dumps(found)
    # When they freeze it by card_id
    status, frozen = signed(
        api,
        "POST",
        "/admin/cards/freeze",
        {"card_id": card["card_id"], "reason": "reported stolen"},
        key=SUPPORT_KEY,
    )
    assert status == 200, frozen
    assert frozen["card"]["frozen"]["reason"] == "reported stolen"
    assert frozen["card"]["frozen"]["by"].endswith(":user/local-support")
    # Then NewStore's balance call answers card_frozen (after the PIN), and reserve refuses
    status, answer = api.post("/gift_card/balance", {"identifier": {"number": number, "pin": pin}})
    assert (status, answer["error_code"]) == (400, "card_frozen")
    assert answer["message"] == "This card is blocked; contact customer service."
    # And the history shows who froze it and why, newest first
    status, history = signed(
        api, "POST", "/admin/cards/history", {"card_id": card["card_id"]}, key=SUPPORT_KEY
    )
    assert status == 200
    newest = history["entries"][0]
    assert (newest["kind"], newest["reason"]) == ("freeze", "reported stolen")
    assert newest["actor"].endswith(":user/local-support")
    assert [e["kind"] for e in history["entries"]][-1] == "issue"
    # And unfreezing lets the card pay again
    status, _ = signed(
        api, "POST", "/admin/cards/unfreeze", {"card_id": card["card_id"], "reason": REASON}
    )
    assert status == 200
    status, answer = api.post("/gift_card/balance", {"identifier": {"number": number, "pin": pin}})
    assert status == 200, answer


def test_finance_adjusts_once_per_key_and_support_may_not(api: LocalApi) -> None:
    number, _ = issued(api, 20)
    body = {
        "number": number,
        "amount": {"value": -5, "currency": "USD"},
        "reason": "double load at store 12",
        "idempotency_key": "adj-1",
    }
    # A support agent's policy does not allow adjust: API Gateway's 403, mapped to the envelope
    status, refused = signed(api, "POST", "/admin/cards/adjust", body, key=SUPPORT_KEY)
    assert (status, refused["error_code"]) == (403, "forbidden")
    # Finance adjusts; the same key replays the same answer and moves no more money
    first = signed(api, "POST", "/admin/cards/adjust", body)
    again = signed(api, "POST", "/admin/cards/adjust", body)
    assert first == again and first[0] == 200, first
    assert first[1]["card"]["balance"] == {"value": 15, "currency": "USD"}
    assert first[1]["entry"]["kind"] == "adjust"
    assert first[1]["entry"]["amount"] == {"value": -5, "currency": "USD"}
    # Below zero is refused as insufficient_funds
    status, answer = signed(
        api,
        "POST",
        "/admin/cards/adjust",
        {**body, "amount": {"value": -100, "currency": "USD"}, "idempotency_key": "adj-2"},
    )
    assert (status, answer["error_code"]) == (400, "insufficient_funds")


def test_unlock_pin_clears_a_hard_lock_and_expiry_is_set_and_cleared(api: LocalApi) -> None:
    number, pin = issued(api)
    wrong = "0000" if pin != "0000" else "1111"
    for _ in range(5):
        api.post("/gift_card/balance", {"identifier": {"number": number, "pin": wrong}})
    status, locked = signed(api, "POST", "/admin/cards/lookup", {"number": number})
    assert locked["card"]["pin"]["locked_until"] is not None
    status, unlocked = signed(
        api,
        "POST",
        "/admin/cards/unlock_pin",
        {"number": number, "reason": REASON},
        key=SUPPORT_KEY,
    )
    assert status == 200
    assert unlocked["card"]["pin"] == {
        "has_pin": True,
        "failures": 0,
        "locked_until": None,
        "hard_locked": False,
    }
    status, _ = api.post("/gift_card/balance", {"identifier": {"number": number, "pin": pin}})
    assert status == 200
    status, with_expiry = signed(
        api,
        "POST",
        "/admin/cards/expiry",
        {"number": number, "expires_at": "2031-01-31T00:00:00Z", "reason": REASON},
    )
    assert status == 200
    assert with_expiry["card"]["expires_at"].startswith("2031-01-31T00:00:00")
    status, cleared = signed(
        api, "POST", "/admin/cards/expiry", {"number": number, "expires_at": None, "reason": REASON}
    )
    assert (status, cleared["card"]["expires_at"]) == (200, None)


def test_customer_cards_and_erasure(api: LocalApi) -> None:
    signed(api, "POST", "/admin/customers/erase", {"customer_id": "cust-88", "reason": REASON})
    api.post(
        "/gift_card/issue",
        {"amount": {"value": 5, "currency": "USD"}, "customer": {"id": "cust-88", "name": "A"}},
    )
    status, found = signed(
        api, "POST", "/admin/customers/cards", {"customer_id": "cust-88"}, key=SUPPORT_KEY
    )
    assert status == 200 and len(found["cards"]) == 1
    assert found["cards"][0]["customer"]["id"] == "cust-88"
    status, refused = signed(
        api,
        "POST",
        "/admin/customers/erase",
        {"customer_id": "cust-88", "reason": REASON},
        key=SUPPORT_KEY,
    )
    assert (status, refused["error_code"]) == (403, "forbidden")
    status, erased = signed(
        api, "POST", "/admin/customers/erase", {"customer_id": "cust-88", "reason": REASON}
    )
    assert (status, erased) == (200, {"erased_cards": 1})
    status, after = signed(api, "POST", "/admin/customers/cards", {"customer_id": "cust-88"})
    assert (status, after) == (200, {"cards": []})


@pytest.mark.parametrize("how", ["unsigned", "wrong secret", "expired", "unknown key"])
def test_bad_signatures_are_403_forbidden(api: LocalApi, how: str) -> None:
    number, _ = issued(api, 5)
    body = {"number": number, "reason": REASON}
    if how == "unsigned":
        status, _, raw = api.request(
            "POST",
            "/admin/cards/freeze",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        answer = json.loads(raw)
    elif how == "wrong secret":
        status, answer = signed(
            api, "POST", "/admin/cards/freeze", body, key=(FINANCE_KEY[0], "not-the-secret")
        )
    elif how == "unknown key":
        status, answer = signed(
            api, "POST", "/admin/cards/freeze", body, key=("AKIAUNKNOWN000000000", "x" * 40)
        )
    else:
        status, answer = signed(
            api,
            "POST",
            "/admin/cards/freeze",
            body,
            at=datetime.now(UTC) - timedelta(minutes=20),
        )
    assert (status, answer["error_code"]) == (403, "forbidden")
    # Nothing happened to the card
    status, card = signed(api, "POST", "/admin/cards/lookup", {"number": number})
    assert card["card"]["frozen"] is None
    # And NewStore's API key opens nothing here
    status, _, raw = api.request(
        "POST",
        "/admin/cards/lookup",
        json.dumps({"number": number}).encode(),
        {"Content-Type": "application/json", **api.auth_headers()},
    )
    assert (status, json.loads(raw)["error_code"]) == (403, "forbidden")


def test_unknown_card_is_404_and_a_reason_with_a_card_number_is_refused(api: LocalApi) -> None:
    status, answer = signed(api, "POST", "/admin/cards/lookup", {"card_id": "c_" + "0" * 64})
    assert (status, answer["error_code"]) == (404, "card_not_found")
    number, _ = issued(api, 5)
    status, answer = signed(
        api,
        "POST",
        "/admin/cards/freeze",
        {"number": number, "reason": f"customer said {number[:4]} {number[4:]}"},
    )
    assert (status, answer["error_code"]) == (400, "invalid_request")
    assert number not in json.dumps(answer)


def test_recent_events_show_operator_actions_without_numbers(api: LocalApi) -> None:
    number, _ = issued(api, 9)
    signed(api, "POST", "/admin/cards/freeze", {"number": number, "reason": "fraud check"})
    deadline = time.monotonic() + 20
    kinds: list[str] = []
    while time.monotonic() < deadline:
        status, recent = signed(api, "GET", "/admin/events/recent")
        assert status == 200
        kinds = [e["detail-type"] for e in recent["events"] if e["detail"]["last4"] == number[-4:]]
        if "Gift Card Frozen" in kinds:
            break
        time.sleep(0.3)
    assert kinds[-2:] == ["Gift Card Issued", "Gift Card Frozen"]
    assert number not in json.dumps(recent)
    status, refused = signed(api, "GET", "/admin/events/recent", key=("AKIAX", "nope"))
    assert (status, refused["error_code"]) == (403, "forbidden")


def test_no_card_number_or_pin_in_the_local_run_logs(api: LocalApi) -> None:
    number, pin = issued(api, 7)
    signed(api, "POST", "/admin/cards/lookup", {"number": number})
    signed(api, "POST", "/admin/cards/freeze", {"number": number, "reason": REASON})
    signed(
        api,
        "POST",
        "/admin/cards/adjust",
        {
            "number": number,
            "amount": {"value": 1, "currency": "USD"},
            "reason": "goodwill after call 4471",
            "idempotency_key": "adj-logs",
        },
    )
    output = api.output()
    assert number not in output
    assert f'"{pin}"' not in output
    assert "holder.7@example.net" not in output and "Holder Seven" not in output
    # Reasons are the operator's words; they stay in the ledger, not in logs
    assert "goodwill after call 4471" not in output and REASON not in output


def test_finance_runs_the_audit_and_reads_liability_and_dormancy(api: LocalApi) -> None:
    # Given cards in two currencies
    issued(api, 10)
    status, _ = api.post(
        "/gift_card/issue", {"amount": {"value": 7, "currency": "EUR"}, "customer": {}}
    )
    assert status == 200
    # Support may read cards but not run the audit or read finance's reports
    for method, path in (
        ("POST", "/admin/audit/run"),
        ("GET", "/admin/audit/latest"),
        ("GET", "/admin/reports/liability"),
    ):
        status, refused = signed(
            api, method, path, {} if method == "POST" else None, key=SUPPORT_KEY
        )
        assert (status, refused["error_code"]) == (403, "forbidden"), path
    # When finance runs the audit (the local run runs it in the request)
    status, run = signed(api, "POST", "/admin/audit/run", {})
    assert (status, run["status"]) == (200, "finished")
    # Then the latest audit is it, with no mismatch and every card checked
    status, audit = signed(api, "GET", "/admin/audit/latest")
    assert status == 200 and audit["audit_id"] == run["audit_id"]
    assert audit["mismatches"] == [] and audit["cards_checked"] >= 2
    # And liability per currency is what the cards hold, for today's date and by default
    day = audit["as_of"][:10]
    status, by_date = signed(api, "GET", f"/admin/reports/liability?date={day}")
    status_latest, latest = signed(api, "GET", "/admin/reports/liability")
    assert status == status_latest == 200 and by_date == latest
    currencies = {c["currency"]: c for c in latest["currencies"]}
    assert currencies["EUR"]["outstanding"]["value"] >= 7
    assert currencies["EUR"]["outstanding"] == {
        "value": currencies["EUR"]["spendable"]["value"] + currencies["EUR"]["held"]["value"],
        "currency": "EUR",
    }
    status, dormancy = signed(api, "GET", "/admin/reports/dormancy")
    assert status == 200
    eur = next(c for c in dormancy["currencies"] if c["currency"] == "EUR")
    assert [b["bucket"] for b in eur["buckets"]] == ["<1y", "1-2y", "2-3y", "3-5y", ">=5y"]
    # A date with no audit is a clear 404; a malformed date is invalid_request
    status, missing = signed(api, "GET", "/admin/reports/liability?date=2001-01-01")
    assert (status, missing["error_code"]) == (404, "audit_not_found")
    status, bad = signed(api, "GET", "/admin/reports/liability?date=yesterday")
    assert (status, bad["error_code"]) == (400, "invalid_request")
