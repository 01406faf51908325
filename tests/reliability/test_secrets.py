"""Secrets: who gets in, how keys and PINs are compared, and what the logs never hold.

- The authorizer refuses every kind of wrong key (missing, empty, wrong, one character off,
  oversized, wrong scheme, wrong header) with the identical answer: in-process the identical
  Deny policy (an answer, not a function error), over HTTP the identical 401 bytes, and the
  request never reaches a handler.
- Two active keys both work during a rotation (each recorded with its own key id); a key taken
  out of the secret stops working.
- Constant time only: the service's source compares no key, PIN, secret or hash material with
  ``==``/``!=`` (or ``in``); the PIN and key checks go through ``hmac.compare_digest``.
- The log scan every suite runs (``conftest.no_secrets_in_logs``, ``conftest.api``) finds what it
  must: a self-test feeds it leaking lines.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from giftcard import http
from giftcard.aws import client as aws_client
from giftcard.cards import luhn_check_digit
from tests.reliability.http_support import Client, Store, service_log_records
from tests.reliability.leaks import leaks
from tests.support.aws import API_KEY, API_KEY_ID, API_KEYS_SECRET
from tests.support.calls import SECRETS, CapturedLogs, DynamoCalls, Secrets, handler, invoke
from tests.support.events import LambdaContext, authorizer_event
from tests.support.local_server import LocalApi

ROOT = Path(__file__).resolve().parents[2]
#: The local run reads its API keys without caching, so a rotation shows at once.
LOCAL_ENV = {"SECRETS_CACHE_SECONDS": "0"}
NEXT_KEY = "next-api-key-abcdefghijklmnopqrstuvwxyz"


def _off_by_one(key: str, position: int) -> str:
    char = key[position]
    return key[:position] + ("a" if char != "a" else "b") + key[position + 1 :]


def refused_headers(key: str) -> dict[str, dict[str, str] | None]:
    """Every kind of wrong credential, for a service whose key is ``key``."""
    return {
        "no headers at all": None,
        "missing header": {"Content-Type": "application/json"},
        "empty": {"Authorization": ""},
        "blank": {"Authorization": "   "},
        "wrong key": {"Authorization": "Bearer wrong-key-0123456789abcdefghij"},
        "first character off": {"Authorization": f"Bearer {_off_by_one(key, 0)}"},
        "middle character off": {"Authorization": f"Bearer {_off_by_one(key, len(key) // 2)}"},
        "last character off": {"Authorization": f"Bearer {_off_by_one(key, -1)}"},
        "one character short": {"Authorization": f"Bearer {key[:-1]}"},
        "one character long": {"Authorization": f"Bearer {key}x"},
        "key twice": {"Authorization": f"Bearer {key}{key}"},
        "upper-cased": {"Authorization": f"Bearer {key.upper()}"},
        "oversized": {"Authorization": f"Bearer {key}{'x' * 600}"},
        "huge": {"Authorization": "x" * 8000},
        "basic scheme": {"Authorization": f"Basic {key}"},
        "token scheme": {"Authorization": f"Token {key}"},
        "scheme only": {"Authorization": "Bearer"},
        "scheme without space": {"Authorization": f"Bearer{key}"},
        "scheme with colon": {"Authorization": f"Bearer:{key}"},
        "in another header": {"X-Api-Key": key},
    }


def allowed_headers(key: str) -> dict[str, dict[str, str]]:
    return {
        "raw key": {"Authorization": key},
        "bearer": {"Authorization": f"Bearer {key}"},
        "lower-case scheme and header name": {"authorization": f"bearer {key}"},
        "surrounding blanks": {"Authorization": f"  Bearer {key}  "},
    }


# In-process: the authorizer Lambda ---------------------------------------------------------------


@pytest.fixture
def authorize(aws: None) -> Any:
    return handler("authorizer")


#: The one refusal (giftcard.auth.deny): an answer, never an exception.
DENY = ("unauthenticated", "Deny")


def _refusal(authorize: Any, headers: dict[str, str] | None) -> tuple[str, str]:
    answer = authorize(authorizer_event(headers), LambdaContext())
    (statement,) = answer["policyDocument"]["Statement"]
    assert "context" not in answer
    return answer["principalId"], statement["Effect"]


def test_every_wrong_key_gets_the_identical_refusal_in_process(authorize: Any) -> None:
    # Given the authorizer; when each kind of wrong credential is presented
    refusals: dict[str, tuple[str, str]] = {}
    with DynamoCalls() as calls:
        for name, headers in refused_headers(API_KEY).items():
            refusals[name] = _refusal(authorize, headers)
    # Then every one gets the identical Deny (-> 401), nothing else
    distinct = set(refusals.values())
    assert distinct == {DENY}, sorted(refusals)
    # And no card storage was touched
    assert calls.count == 0


def test_the_right_key_is_allowed_however_it_is_presented(authorize: Any) -> None:
    for headers in allowed_headers(API_KEY).values():
        policy = authorize(authorizer_event(headers), LambdaContext())
        assert policy["principalId"] == API_KEY_ID
        assert policy["context"] == {"key_id": API_KEY_ID}
        assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def _set_api_keys(keys: list[dict[str, Any]]) -> None:
    aws_client("secretsmanager").put_secret_value(
        SecretId=API_KEYS_SECRET, SecretString=json.dumps({"keys": keys})
    )
    http.reset()  # a new Lambda instance (or the cache's max age passed)


def test_two_active_keys_both_work_during_a_rotation(authorize: Any) -> None:
    SECRETS.add("next API key", NEXT_KEY)
    # Given a rotation in progress: the old key, the new key, and a key marked inactive
    _set_api_keys(
        [
            {"id": "old", "key": API_KEY},
            {"id": "new", "key": NEXT_KEY},
            {"id": "retired", "key": "retired-key-0123456789abcdefgh", "active": False},
            {"id": "weak", "key": "short"},
        ]
    )
    # Then both active keys are allowed, each under its own key id (recorded in the ledger)
    for key, key_id in ((API_KEY, "old"), (NEXT_KEY, "new")):
        policy = authorize(authorizer_event({"Authorization": key}), LambdaContext())
        assert policy["context"] == {"key_id": key_id}
    # And the inactive key and a key too short to be safe are refused
    for key in ("retired-key-0123456789abcdefgh", "short"):
        assert _refusal(authorize, {"Authorization": key}) == DENY
    # When the rotation completes (the old key removed), the old key stops working
    _set_api_keys([{"id": "new", "key": NEXT_KEY}])
    assert _refusal(authorize, {"Authorization": API_KEY}) == DENY
    assert authorize(authorizer_event({"Authorization": NEXT_KEY}), LambdaContext())


# Over HTTP: the local gateway with the real authorizer -------------------------------------------


def _answer(api: LocalApi, headers: dict[str, str] | None) -> tuple[int, str, bytes]:
    sent = {"Content-Type": "application/json", **(headers or {})}
    status, answer_headers, raw = api.request(
        "POST", "/gift_card/balance", b'{"identifier": {"number": "7777000000000001"}}', sent
    )
    lowered = {name.lower(): value for name, value in answer_headers.items()}
    return status, lowered.get("content-type", ""), raw


def test_every_wrong_key_gets_the_identical_401_over_http(api: LocalApi) -> None:
    SECRETS.add("API key", api.api_key)
    start = len(api.output())
    # When each kind of wrong credential is sent to the local gateway
    answers = {
        name: _answer(api, headers) for name, headers in refused_headers(api.api_key).items()
    }
    # Then every answer is the same 401 with the same bytes
    distinct = set(answers.values())
    assert len(distinct) == 1, sorted(answers)
    status, content_type, raw = distinct.pop()
    assert (status, content_type) == (401, "application/json")
    assert json.loads(raw) == {
        "error_code": "unauthorized",
        "message": "Missing or invalid API key.",
    }
    # And no handler ran for any of them (handlers log "request answered")
    # (the gateway writes its access line after answering: wait until all 20 are there)
    deadline = time.monotonic() + 5
    while True:
        lines = service_log_records(api.output()[start:])
        refused = [r for r in lines if r.get("message") == "access" and r.get("status") == 401]
        if len(refused) >= len(answers) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(refused) >= len(answers), "the gateway did not log every refused request"
    assert not [line for line in lines if line.get("message") == "request answered"]


def test_the_right_key_is_allowed_over_http(api: LocalApi) -> None:
    SECRETS.add("API key", api.api_key)
    for headers in allowed_headers(api.api_key).values():
        status, _, raw = _answer(api, headers)
        assert (status, json.loads(raw)["error_code"]) == (400, "invalid_card")


def test_key_rotation_over_http(api: LocalApi) -> None:
    SECRETS.add("API key", api.api_key)
    SECRETS.add("next API key", NEXT_KEY)
    store = Store(api)
    old = api.api_key

    def rotate(keys: list[dict[str, str]]) -> None:
        store.secretsmanager.put_secret_value(
            SecretId=API_KEYS_SECRET, SecretString=json.dumps({"keys": keys})
        )

    try:
        # Given the new key added next to the old one
        rotate([{"id": "local", "key": old}, {"id": "next", "key": NEXT_KEY}])
        # Then both work
        for key in (old, NEXT_KEY):
            status, _, _ = _answer(api, {"Authorization": f"Bearer {key}"})
            assert status == 400  # authorized: the (unknown) card is refused, not the key
        # And what the new key does is recorded under its key id
        client = Client(api)
        status, _, raw = client.post(
            "/gift_card/issue",
            {"amount": {"value": 7, "currency": "USD"}, "customer": {}},
            headers={"Authorization": f"Bearer {NEXT_KEY}"},
        )
        assert status == 200
        number = json.loads(raw)["identifier"]["number"]
        assert [entry.key_id for entry in store.ledger(number)] == ["next"]
        # When the old key is removed, it stops working at once (no cache in this run)
        rotate([{"id": "next", "key": NEXT_KEY}])
        assert _answer(api, {"Authorization": f"Bearer {old}"})[0] == 401
        assert _answer(api, {"Authorization": f"Bearer {NEXT_KEY}"})[0] == 400
    finally:
        rotate([{"id": "local", "key": old}])


# Constant time only ------------------------------------------------------------------------------

SECRET_WORDS = ("key", "pin", "secret", "hash")
SOURCES = sorted(
    [*(ROOT / "shared" / "giftcard").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
)
#: Comparisons that name secret-sounding things but compare nothing secret, with the reason.
ALLOWED = {
    # The HMAC of a request's parameters, compared only to decide whether to log a warning (and
    # count IdempotencyKeyReused) when an idempotency key is reused with other parameters; the
    # client gets the stored answer either way, so the comparison's timing tells it nothing.
    ("shared/giftcard/operation.py", "stored.params_hash != self.params_hash"),
}


def _identifiers(node: ast.AST) -> set[str]:
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
    return found


def _secret_named(node: ast.AST) -> bool:
    return any(word in name.lower() for name in _identifiers(node) for word in SECRET_WORDS)


def _harmless(node: ast.AST) -> bool:
    """None, numbers, booleans, string literals (a field name), and lengths are not secrets."""
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("len", "type")


def variable_time_comparisons(source: str, relative: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for index, op in enumerate(node.ops):
            left, right = operands[index], operands[index + 1]
            if isinstance(op, ast.Eq | ast.NotEq):
                suspicious = (_secret_named(left) or _secret_named(right)) and not (
                    _harmless(left) or _harmless(right)
                )
            elif isinstance(op, ast.In | ast.NotIn):
                # A secret looked up in a collection is compared with == inside it.
                suspicious = _secret_named(left) and not _harmless(left)
            else:
                continue
            text = ast.unparse(node)
            if suspicious and (relative, text) not in ALLOWED:
                found.append(f"{relative}:{node.lineno}: {text}")
    return found


def test_no_key_or_pin_material_is_compared_with_equality() -> None:
    findings = []
    for path in SOURCES:
        relative = path.relative_to(ROOT).as_posix()
        findings += variable_time_comparisons(path.read_text(encoding="utf-8"), relative)
    assert not findings, "compare secrets with hmac.compare_digest:\n" + "\n".join(findings)


def test_the_equality_scan_finds_what_it_must() -> None:
    # The scan itself must be able to fail: each of these is a variable-time comparison.
    leaking = [
        "ok = presented == candidate.secret",
        "ok = pin != card.pin",
        "ok = stored_hash == self.pin_hash(lookup, pin)",
        "ok = api_key in keys",
        "if key.encode() == expected: pass",
    ]
    for line in leaking:
        assert variable_time_comparisons(line, "x.py"), line
    harmless = ["ok = key is None", "ok = len(pin) == 4", "ok = 'keys' in secret_value"]
    for line in harmless:
        assert not variable_time_comparisons(line, "x.py"), line


def test_pin_and_key_checks_use_compare_digest() -> None:
    for relative, function in (
        ("shared/giftcard/auth.py", "match"),
        ("shared/giftcard/keys.py", "pin_matches"),
    ):
        tree = ast.parse((ROOT / relative).read_text(encoding="utf-8"))
        body = next(
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name == function
        )
        calls = {
            getattr(node.func, "attr", getattr(node.func, "id", ""))
            for node in ast.walk(body)
            if isinstance(node, ast.Call)
        }
        assert "compare_digest" in calls, f"{relative}:{function} does not use compare_digest"


# The log scan itself -----------------------------------------------------------------------------


@pytest.fixture
def registry() -> Iterator[Secrets]:
    secrets = Secrets()
    secrets.add_card("7777001234567890", "4125")
    secrets.add("API key", API_KEY)
    yield secrets


@pytest.mark.parametrize(
    "line",
    [
        '{"message": "card 7777001234567890 refused"}',
        '{"message": "card 7777-0012-3456-7890 refused"}',
        '{"message": "balance", "pin": "4125"}',
        '{"message": "wrong pin 4125 given"}',
        f'{{"message": "key {API_KEY}"}}',
        '{"message": "mail", "customer": "jay@example.com"}',
        '{"message": "unregistered", "n": "UNREGISTERED"}',
        "plain text 7777001234567890",
    ],
)
def test_the_log_scan_finds_leaks(registry: Secrets, line: str) -> None:
    # An unregistered but valid-looking number of ours (prefix, Luhn) is found too.
    unregistered = "777799998888777" + luhn_check_digit("777799998888777")
    found = bool(leaks(line.replace("UNREGISTERED", unregistered), registry))
    assert found, "the scan missed a leak"


@pytest.mark.parametrize(
    "line",
    [
        '{"message": "balance answered", "card_last4": "7890", "status": 200}',
        '{"message": "x", "request_id": "4125aaaa-4125-4125-4125-412541254125"}',
        '{"message": "x", "timestamp": "2026-11-25 10:41:25,412+0000"}',
        '{"message": "voided", "voided_minor": 412500}',
    ],
)
def test_the_log_scan_leaves_safe_lines_alone(registry: Secrets, line: str) -> None:
    assert leaks(line, registry) == []


def test_the_service_logs_are_really_captured(
    services: Any, no_secrets_in_logs: CapturedLogs
) -> None:
    # The autouse guard sees the handlers' log records (so its scan is not vacuous).
    invoke("balance", {"identifier": {"number": "7777001234567890"}}, services=services)
    messages = no_secrets_in_logs.messages()
    assert "request answered" in messages
