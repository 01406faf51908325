"""The local run (``make run``) over real HTTP: the real authorizer and handlers behind the local
gateway, moto behind them. Plus the gateway's own decisions, in-process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from giftcard.cards import generate_number
from giftcard.settings import Settings
from tests.support.local_server import ROOT, LocalApi
from tools.local_api import Gateway, ServedRoute, path_pattern, policy_allows
from tools.local_api.docs import docs_pages

STOCK_PIN = "2468"
ISSUE = json.loads((ROOT / "docs/examples/issue.request.json").read_text())
ACTIVATE = json.loads((ROOT / "docs/examples/activate.request.json").read_text())


def error_code(body: Any) -> str | None:
    return body.get("error_code") if isinstance(body, dict) else None


def expect(answer: tuple[int, Any], status: int) -> Any:
    """The body of an answer with ``status``; a failure names status and error code only (bodies
    may hold card numbers and PINs)."""
    got, body = answer
    assert got == status, f"expected {status}, got {got} ({error_code(body)})"
    return body


class Stock(list[str]):
    """Printed card numbers; the repr hides them (pytest shows fixture values on failure)."""

    def __repr__(self) -> str:
        return f"<{len(self)} stock cards>"


@pytest.fixture(scope="module")
def stock() -> Stock:
    return Stock(generate_number("8888", 16) for _ in range(3))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, stock: Stock) -> Iterator[LocalApi]:
    csv = tmp_path_factory.mktemp("stock") / "cards.csv"
    csv.write_text("number,pin\n" + "".join(f"{number},{STOCK_PIN}\n" for number in stock))
    with LocalApi(stock_csv=csv) as running:
        yield running
    running.cleanup()


# The webhooks, as NewStore calls them ------------------------------------------------------------


def test_issue_balance_activate_deactivate_balance(api: LocalApi, stock: Stock) -> None:
    # Given a running local API with printed stock imported at start
    # When a card is issued, its balance asked
    issued = expect(
        api.post("/gift_card/issue", {**ISSUE, "idempotence_key": str(uuid.uuid4())}), 200
    )
    assert issued["amount"] == {"value": 50, "currency": "USD"}
    number, pin = issued["identifier"]["number"], issued["identifier"]["pin"]
    balance = expect(
        api.post("/gift_card/balance", {"identifier": {"number": number, "pin": pin}}), 200
    )
    # Then the new card holds the issued amount
    assert balance == {"value": 50, "currency": "USD"}

    # When a stock card is activated with 25.5 EUR
    card = stock[0]
    activate = {**ACTIVATE, "card_number": card, "amount": {"value": 25.5, "currency": "EUR"}}
    activated = expect(api.post("/gift_card/activate", {**activate, "idempotence_key": "a-1"}), 200)
    assert activated["identifier"]["number"] == card, "activate answered another card number"
    assert set(activated["identifier"]) == {"number"}  # never a PIN
    stock_balance = {"identifier": {"number": card, "pin": STOCK_PIN}}
    assert expect(api.post("/gift_card/balance", stock_balance), 200) == {
        "value": 25.5,
        "currency": "EUR",
    }

    # When it is deactivated (twice)
    request = {"card_number": card, "pin": STOCK_PIN, "store_id": "s1", "idempotence_key": "d-1"}
    first = expect(api.post("/gift_card/deactivate", request), 200)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["deactivated_at"])
    again = expect(api.post("/gift_card/deactivate", {**request, "idempotence_key": "d-2"}), 200)
    # Then the second answers the original time, and the balance tells it is deactivated
    assert again == first
    assert (
        error_code(expect(api.post("/gift_card/balance", stock_balance), 400)) == "card_deactivated"
    )


def test_replay_with_the_same_key_is_byte_identical(api: LocalApi) -> None:
    # Given an issue with an idempotence key
    key = str(uuid.uuid4())
    headers = {"Content-Type": "application/json", **api.auth_headers()}
    first = api.request(
        "POST", "/gift_card/issue", json.dumps({**ISSUE, "idempotence_key": key}).encode(), headers
    )
    # When it is retried with the same key, even with another amount
    changed = {**ISSUE, "amount": {"value": 70, "currency": "USD"}, "idempotence_key": key}
    second = api.request("POST", "/gift_card/issue", json.dumps(changed).encode(), headers)
    # Then the retry gets exactly the first answer (same card, same amount): no second card
    assert first[0] == second[0] == 200
    assert first[2] == second[2], "the replayed body differs from the first answer"


def test_activate_unknown_card_is_card_not_found(api: LocalApi) -> None:
    body = {**ACTIVATE, "card_number": generate_number("8888", 16), "idempotence_key": None}
    assert error_code(expect(api.post("/gift_card/activate", body), 400)) == "card_not_found"


# What the gateway answers itself -----------------------------------------------------------------

UNAUTHORIZED = {"error_code": "unauthorized", "message": "Missing or invalid API key."}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key-0123456789abcdef"}, {"Authorization": "Bearer "}],
    ids=["missing", "wrong", "empty"],
)
def test_missing_or_wrong_key_is_401(api: LocalApi, headers: dict[str, str]) -> None:
    answer = api.post("/gift_card/issue", ISSUE, authorized=False, headers=headers)
    assert expect(answer, 401) == UNAUTHORIZED


def test_raw_key_without_bearer_is_accepted(api: LocalApi) -> None:
    answer = api.post(
        "/gift_card/balance",
        {"identifier": {"number": "0000"}},
        authorized=False,
        headers={"authorization": api.api_key},
    )
    assert error_code(expect(answer, 400)) == "invalid_card"


def test_unknown_path_is_404_before_the_key_check(api: LocalApi) -> None:
    for authorized in (True, False):
        answer = api.post("/gift_card/transfer", {}, authorized=authorized)
        assert expect(answer, 404) == {"error_code": "not_found", "message": "No such endpoint."}


def test_other_methods_on_a_known_path_are_405(api: LocalApi) -> None:
    for method in ("GET", "PUT", "DELETE"):
        status, _, raw = api.request(method, "/gift_card/balance", headers=api.auth_headers())
        assert status == 405, method
        assert json.loads(raw)["error_code"] == "method_not_allowed"
    # Like the deployed API, the key is checked first.
    assert api.request("GET", "/gift_card/balance")[0] == 401


def test_body_over_the_limit_is_413(api: LocalApi) -> None:
    too_large = json.dumps({"identifier": {"number": "1"}, "pad": "x" * (64 * 1024)}).encode()
    headers = {"Content-Type": "application/json", **api.auth_headers()}
    status, _, raw = api.request("POST", "/gift_card/balance", too_large, headers)
    assert status == 413
    assert json.loads(raw)["error_code"] == "payload_too_large"
    # The connection was closed cleanly: the next request is served normally.
    assert api.post("/gift_card/balance", {"identifier": {"number": "1"}})[0] == 400


def test_openapi_document_is_served(api: LocalApi) -> None:
    status, headers, raw = api.request("GET", "/openapi.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    document = json.loads(raw)
    assert document["openapi"].startswith("3.1")
    assert document["servers"][0]["url"] == api.url
    assert {
        "/gift_card/balance",
        "/gift_card/issue",
        "/gift_card/activate",
        "/gift_card/deactivate",
    } <= set(document["paths"])
    security = next(iter(document["components"]["securitySchemes"].values()))
    assert security["name"] == "Authorization"


def test_docs_page_is_swagger_ui_served_by_the_local_run(api: LocalApi) -> None:
    # Given the local run, when a browser opens /docs
    status, headers, raw = api.request("GET", "/docs")
    page = raw.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    # Then it loads Swagger UI from the local run itself, nothing from another host (no CDN)
    assert "swagger-ui" in page
    assets = re.findall(r"(?:src|href)='([^']+)'", page)
    assert "//" not in page and all(asset.startswith("/docs/") for asset in assets)
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"} <= set(assets)
    for asset in assets:
        status, headers, raw = api.request("GET", asset)
        assert status == 200, asset
        assert raw, asset
        expected = {"js": "text/javascript", "css": "text/css", "png": "image/png"}
        assert headers["Content-Type"].startswith(expected[asset.rsplit(".", 1)[1]]), asset
    # And the script that starts it reads the local run's own OpenAPI document
    _, _, script = api.request("GET", "/docs/swagger-initializer.js")
    assert '"url": "/openapi.json"' in script.decode()
    assert "SwaggerUIBundle(" in script.decode()


def test_64_concurrent_connections_all_get_an_answer(api: LocalApi) -> None:
    # Given 64 clients that connect at the same moment
    start = threading.Barrier(64, timeout=30)
    results: list[Any] = [None] * 64

    def client(index: int) -> None:
        start.wait()
        try:
            results[index] = api.post(
                "/gift_card/issue", {**ISSUE, "idempotence_key": f"burst-{uuid.uuid4()}"}
            )
        except Exception as exc:  # a reset connection lands here
            results[index] = type(exc).__name__

    threads = [threading.Thread(target=client, args=(i,)) for i in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    # Then every one of them got a contract answer, each a new card
    failures = [
        r if isinstance(r, str) else f"{r[0]} {error_code(r[1])}"
        for r in results
        if not (isinstance(r, tuple) and r[0] == 200)
    ]
    assert failures == []
    assert len({r[1]["identifier"]["number"] for r in results}) == 64


def test_stock_imported_with_the_printed_command_can_be_activated(
    api: LocalApi, tmp_path: Path
) -> None:
    # Given the import command the local run prints, pointed at its moto
    card = generate_number("8888", 16)
    csv = tmp_path / "more.csv"
    csv.write_text(f"number,pin\n{card},\n")
    command = [
        sys.executable,
        "-m",
        "tools.cli",
        "stock",
        "import",
        str(csv),
        "--endpoint-url",
        api.moto_endpoint,
        "--region",
        "us-east-1",
        "--table",
        "giftcards",
        "--keys-secret",
        "giftcards/key-material",
    ]
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        },
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "created: 1" in done.stdout
    # Then the card is known to the API: it can be activated
    body = {**ACTIVATE, "card_number": card, "idempotence_key": None}
    expect(api.post("/gift_card/activate", body), 200)


def test_logs_are_json_lines_without_numbers_or_the_key(api: LocalApi, stock: Stock) -> None:
    # Given some traffic (one card number in a request that fails, one that succeeds)
    api.post("/gift_card/balance", {"identifier": {"number": stock[1], "pin": "0000"}})
    api.post("/gift_card/balance", {"identifier": {"number": stock[2], "pin": STOCK_PIN}})
    # Then every line after the banner is JSON and none holds a card number or the key
    logs = api.output().split("Ctrl-C stops.", 1)[1].strip().splitlines()
    assert logs and all(
        line.startswith("{") and json.loads(line) for line in logs if line != "Stopped."
    )
    text = "\n".join(logs)
    leaked = [n[-4:] for n in stock if n in text]
    assert leaked == [], "a card number (last 4 shown) appears in the logs"
    assert api.api_key not in text, "the API key appears in the logs"


def test_generated_key_and_clean_shutdown() -> None:
    # Given a local run started without API_KEY
    with LocalApi(api_key=None) as api:
        # Then it generated one, printed it, and accepts it
        assert len(api.api_key) >= 24
        assert api.post("/gift_card/balance", {"identifier": {"number": "1"}})[0] == 400
    # And Ctrl-C (SIGINT) stops it cleanly
    assert api.returncode == 0
    assert api.output().rstrip().endswith("Stopped.")
    api.cleanup()


def test_the_reservation_expiry_job_runs_on_its_schedule() -> None:
    # Given a local run whose expiry job runs every second
    with LocalApi({"RESERVATION_EXPIRY_RATE_SECONDS": "1"}) as api:
        # When a few seconds pass
        deadline = time.monotonic() + 15
        while "reservation expiry run" not in api.output() and time.monotonic() < deadline:
            time.sleep(0.2)
        # Then the real reservation_expiry handler has run (and logged its summary)
        assert "reservation expiry run" in api.output()
    api.cleanup()


# The gateway in-process: the decisions around the authorizer -------------------------------------


def _gateway(authorizer: Any, calls: list[dict[str, Any]]) -> Gateway:
    from giftcard.routes import ROUTES

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    served = [ServedRoute(route, path_pattern(route.path), handler) for route in ROUTES]
    return Gateway(Settings(), served, authorizer)


def _allow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "principalId": "k1",
        "policyDocument": {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "execute-api:Invoke",
                    "Resource": "arn:aws:execute-api:us-east-1:000000000000:local/local/*/*",
                }
            ]
        },
        "context": {"key_id": "k1"},
    }


def test_authorizer_failure_is_503_and_a_refusal_401() -> None:
    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("Secrets Manager unavailable")

    def refusing(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise Exception("Unauthorized")

    calls: list[dict[str, Any]] = []
    answer = _gateway(broken, calls).answer("POST", "/gift_card/balance", [], b"{}")
    assert (answer.status, json.loads(answer.body)["error_code"]) == (503, "retry_error")
    answer = _gateway(refusing, calls).answer("POST", "/gift_card/balance", [], b"{}")
    assert (answer.status, json.loads(answer.body)["error_code"]) == (401, "unauthorized")
    assert calls == []  # the handler never ran


def test_a_crashed_handler_is_503_retry_error_like_the_stacks_default_5xx() -> None:
    # Given a handler that crashes (in AWS: a function error, timeout or throttle -> DEFAULT_5XX)
    from giftcard.routes import ROUTES

    def crashing(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise TimeoutError("the function ran out of time, maybe after committing")

    served = [ServedRoute(route, path_pattern(route.path), crashing) for route in ROUTES]
    answer = Gateway(Settings(), served, _allow).answer(
        "POST", "/gift_card/issue", [("Authorization", "k")], b"{}"
    )
    # Then the answer does not claim "nothing was committed": 503 retry_error (retry, same key)
    assert (answer.status, json.loads(answer.body)["error_code"]) == (503, "retry_error")


def test_allowed_request_reaches_the_handler_as_a_proxy_event() -> None:
    calls: list[dict[str, Any]] = []
    answer = _gateway(_allow, calls).answer(
        "POST", "/financial_instruments/abc-1/capture?x=1", [("Authorization", "k")], b'{"a": 1}'
    )
    assert answer.status == 200
    [event] = calls
    assert event["resource"] == "/financial_instruments/{instrument_id}/capture"
    assert event["pathParameters"] == {"instrument_id": "abc-1"}
    assert event["requestContext"]["authorizer"] == {"key_id": "k1", "principalId": "k1"}
    assert (event["body"], event["isBase64Encoded"]) == ('{"a": 1}', False)


def test_policy_evaluation() -> None:
    arn = "arn:aws:execute-api:us-east-1:000000000000:local/local/POST/gift_card/balance"
    allow = _allow({}, None)
    assert policy_allows(allow, arn)
    deny = {
        "policyDocument": {
            "Statement": [{**allow["policyDocument"]["Statement"][0], "Effect": "Deny"}]
        }
    }
    assert not policy_allows(deny, arn)
    assert not policy_allows({"policyDocument": {"Statement": []}}, arn)
    other_stage = {
        "policyDocument": {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Resource": "arn:aws:execute-api:us-east-1:000000000000:local/prod/*/*",
                }
            ]
        }
    }
    assert not policy_allows(other_stage, arn)


def test_docs_without_swagger_ui_installed_point_at_the_document(tmp_path: Path) -> None:
    # Given no swagger-ui-dist package (npm install not run)
    pages, warnings = docs_pages({"info": {"title": "t"}}, package=tmp_path)
    # Then /docs says how to install it and links the document, which is still served
    assert (
        "make run" in pages["/docs"][1].decode() and "/openapi.json" in pages["/docs"][1].decode()
    )
    assert json.loads(pages["/openapi.json"][1]) == {"info": {"title": "t"}}
    assert warnings and "npm install" in warnings[0]
