"""The console's server side (tools/console/app.py) against a stand-in operator API that checks
SigV4: what it forwards and signs, what it refuses, which policy it reports, and what its pages
carry."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from botocore.credentials import Credentials

from tests.support.console_fake_api import (
    FINANCE_KEY,
    REGION,
    SUPPORT_KEY,
    FakeOperatorApi,
    Refused,
)
from tools.console.app import ConsoleApp

NUMBER = "7777001234567890"
PAGE_HEADERS = {"Host": "127.0.0.1:8123"}
API_HEADERS = {**PAGE_HEADERS, "X-Giftcard-Console": "1", "Content-Type": "application/json"}


@pytest.fixture
def api() -> Iterator[FakeOperatorApi]:
    with FakeOperatorApi() as fake:
        fake.add_card(NUMBER, 7000, customer={"id": "64810476", "name": "Jay", "email": "j@x"})
        yield fake


def console(api: FakeOperatorApi, key=FINANCE_KEY, **options) -> ConsoleApp:
    credentials = None if key is None else Credentials(key.access_key_id, key.secret_access_key)
    return ConsoleApp(api.url, credentials, REGION, **options)


def call(app: ConsoleApp, method: str, path: str, body: object = None, headers=None):
    raw = json.dumps(body).encode() if body is not None else b""
    status, answer_headers, answer = app.handle(method, path, headers or API_HEADERS, raw)
    return status, answer_headers, json.loads(answer)


def test_a_lookup_by_number_is_signed_and_answered(api: FakeOperatorApi) -> None:
    # Given the console signing as finance, when the page looks a card up by its number
    status, headers, body = call(
        console(api), "POST", "/console/api/admin/cards/lookup", {"number": NUMBER}
    )
    # Then the operator API accepted the signature and the card comes back by card_id
    assert status == 200
    assert body["card"]["last4"] == "7890"
    assert headers["Cache-Control"] == "no-store"
    # and the number travelled in the body only
    method, target, sent = api.requests[-1]
    assert (method, target) == ("POST", "/admin/cards/lookup")
    assert NUMBER in sent.decode() and NUMBER not in target


def test_reports_forward_their_query(api: FakeOperatorApi) -> None:
    app = console(api)
    call(app, "POST", "/console/api/admin/audit/run", {})
    status, _, body = call(app, "GET", "/console/api/admin/reports/liability?date=1999-01-01")
    assert (status, body["error_code"]) == (404, "audit_not_found")
    assert api.requests[-1][1] == "/admin/reports/liability?date=1999-01-01"


def test_only_the_operator_calls_are_forwarded(api: FakeOperatorApi) -> None:
    app = console(api)
    for method, path in [
        ("POST", "/console/api/admin/cards/delete"),
        ("GET", "/console/api/admin/cards/lookup"),
        ("POST", "/console/api/gift_card/balance"),
    ]:
        status, _, body = call(app, method, path, {})
        assert (status, body["error_code"]) == (404, "not_found")
    assert api.requests == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "127.0.0.1:8123", "Content-Type": "application/json"},  # no console header
        {**API_HEADERS, "Origin": "https://evil.example"},
        {**API_HEADERS, "Sec-Fetch-Site": "cross-site"},
        {**API_HEADERS, "Host": "rebound.example:8123"},
    ],
    ids=["no-console-header", "foreign-origin", "cross-site", "foreign-host"],
)
def test_requests_from_other_sites_are_refused_unsigned(api: FakeOperatorApi, headers) -> None:
    status, _, body = call(
        console(api),
        "POST",
        "/console/api/admin/cards/freeze",
        {"card_id": "c_fake0001", "reason": "forged"},
        headers,
    )
    assert (status, body["error_code"]) == (403, "forbidden")
    assert api.requests == []
    assert api.cards["c_fake0001"].frozen is None


def test_the_page_own_origin_is_accepted(api: FakeOperatorApi) -> None:
    headers = {**API_HEADERS, "Origin": "http://127.0.0.1:8123", "Sec-Fetch-Site": "same-origin"}
    status, _, _ = call(
        console(api), "POST", "/console/api/admin/cards/lookup", {"card_id": "c_fake0001"}, headers
    )
    assert status == 200


@pytest.mark.parametrize(("key", "policy"), [(FINANCE_KEY, "finance"), (SUPPORT_KEY, "support")])
def test_the_session_reports_the_policy_held(api: FakeOperatorApi, key, policy) -> None:
    status, _, body = call(console(api, key, label="me"), "GET", "/console/api/session")
    assert status == 200
    assert body == {"policy": policy, "api_url": api.url, "region": REGION, "label": "me"}


def test_a_wrong_secret_is_a_refused_session_in_words(api: FakeOperatorApi) -> None:
    app = ConsoleApp(api.url, Credentials(FINANCE_KEY.access_key_id, "wrong-secret"), REGION)
    status, _, body = call(app, "GET", "/console/api/session")
    assert status == 403
    assert body["error_code"] == "console_credentials_refused"
    assert "refused the console's AWS credentials" in body["message"]
    assert "wrong-secret" not in body["message"]


def test_no_credentials_say_how_to_get_some(api: FakeOperatorApi) -> None:
    status, _, body = call(console(api, None), "GET", "/console/api/session")
    assert (status, body["error_code"]) == (401, "console_no_credentials")
    assert "aws sso login" in body["message"]
    assert api.requests == []


def test_an_unreachable_api_is_said_so() -> None:
    app = ConsoleApp("http://127.0.0.1:9", Credentials("AKIAX", "secret"), REGION, timeout=5)
    status, _, body = call(app, "POST", "/console/api/admin/cards/lookup", {"card_id": "c_x"})
    assert (status, body["error_code"]) == (502, "console_unreachable")


def test_support_is_refused_finance_calls_by_the_api(api: FakeOperatorApi) -> None:
    status, _, body = call(
        console(api, SUPPORT_KEY),
        "POST",
        "/console/api/admin/cards/adjust",
        {
            "card_id": "c_fake0001",
            "amount": {"value": 5, "currency": "USD"},
            "reason": "goodwill",
            "idempotency_key": "k-1",
        },
    )
    assert (status, body["error_code"]) == (403, "forbidden")
    assert api.cards["c_fake0001"].balance == 7000


@pytest.mark.parametrize(
    "path",
    [
        "/console",
        "/console/",
        "/console/card",
        "/console/liability",
        "/console/dormancy",
        "/console/events",
    ],
)
def test_every_page_is_the_shell_with_its_mount_and_a_strict_policy(api, path) -> None:
    status, headers, body = console(api, mount="/support-console").handle(
        "GET", path.replace("/console", "/support-console"), PAGE_HEADERS, b""
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert 'content="/support-console"' in page
    assert "/support-console/static/app.js" in page
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_static_assets_are_served_and_nothing_else(api: FakeOperatorApi) -> None:
    app = console(api)
    status, headers, body = app.handle("GET", "/console/static/app.js", PAGE_HEADERS, b"")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert b"session()" in body
    for path in ["/console/static/../app.py", "/console/static/index.html.bak", "/console/nope"]:
        assert app.handle("GET", path, PAGE_HEADERS, b"")[0] == 404


def test_a_form_post_to_a_page_is_refused(api: FakeOperatorApi) -> None:
    # Without the script, the search form posts to the page: refused, never a GET with the number.
    status, _, _ = console(api).handle("POST", "/console/", PAGE_HEADERS, b"query=7777001234567890")
    assert status == 405
    assert api.requests == []


def test_a_url_without_the_operator_api_is_said_so(api: FakeOperatorApi) -> None:
    # The webhook API (or any other) answers 404 not_found for /admin/ paths it does not have.
    app = ConsoleApp(api.url + "/elsewhere", Credentials("AKIAX", "secret"), REGION)
    status, _, body = call(app, "GET", "/console/api/session")
    assert (status, body["error_code"]) == (502, "console_not_operator_api")


def test_an_api_without_the_finance_read_gets_the_support_look(api: FakeOperatorApi) -> None:
    # A finance read that is not answered (here: no such route) never shows finance's actions.
    def missing(payload: dict, query: dict, caller: str) -> dict:
        raise Refused(404, "not_found", "No such endpoint.")

    api.op_audit_latest = missing  # type: ignore[method-assign]
    status, _, body = call(console(api), "GET", "/console/api/session")
    assert (status, body["policy"]) == (200, "support")


def test_the_console_calls_the_registry_operator_routes_with_their_policies() -> None:
    # Every operator route of the registry is a call the console makes, needing the same policy
    # (the page hides what the operator's policy does not allow).
    from giftcard.routes import OPERATOR, ROUTES
    from tools.console.operations import OPERATIONS

    registry = {(r.method, r.path, r.policy) for r in ROUTES if r.api == OPERATOR}
    console = {(op.method, op.path, op.policy) for op in OPERATIONS}
    assert registry, "the registry has no operator route"
    assert registry <= console
