"""Hostile input over real HTTP through the local gateway: every answer is a 4xx with the
contract's error body (or a 200 where the request is valid after all), never a 5xx.

Non-JSON bodies, deeply nested JSON, huge and tiny numbers (``1e400``, 10,000-digit integers,
5,000 trailing zeros; over 100 digits or an exponent beyond +-1000 is ``invalid_request``, and
free-form numbers are echoed as written, never inflating an answer), ``NaN``/``Infinity``
literals, unicode and control characters in every
string field of every operation, 255+ character idempotency keys (``invalid_request``), 300
character JSON object keys (ignored), oversized bodies (``413``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.reliability.http_support import Client, error_code
from tests.support.calls import SECRETS, Secrets
from tests.support.local_server import LocalApi

REQUEST_ERROR = (400, "invalid_request")
KEY_FIELDS = {"idempotence_key", "idempotency_key"}
_keys = itertools.count(1)
INSTRUMENT = "A" * 80  # shaped like our instrument ids, but not one of ours


def issue(client: Client, value: int = 100) -> tuple[str, str]:
    status, body = client.json(
        "/gift_card/issue", {"amount": {"value": value, "currency": "USD"}, "customer": {}}
    )
    assert status == 200
    return body["identifier"]["number"], body["identifier"]["pin"]


@pytest.fixture(scope="module")
def card(local_run: LocalApi) -> tuple[str, str]:
    """An issued card holding 1000 USD (number, PIN): the target of the fuzzed requests."""
    return issue(Client(local_run, Secrets()), 1000)


@pytest.fixture
def client(api: LocalApi, card: tuple[str, str]) -> Client:
    """Sends hostile requests. The hostile values are not registered as secrets (they may
    legitimately show up, e.g. an instrument id in the access log's path); the real card's
    number and PIN and the API key are, and the ``api`` fixture scans the logs for them."""
    SECRETS.add_card(*card)
    SECRETS.add("API key", api.api_key)
    return Client(api, Secrets())


@pytest.fixture
def fresh_card(client: Client) -> tuple[str, str]:
    """A card holding 100 USD that nothing else touches."""
    number, pin = issue(client)
    SECRETS.add_card(number, pin)
    return number, pin


def bodies(number: str, pin: str) -> dict[str, dict[str, Any]]:
    """A valid request for every operation (path -> body)."""
    return {
        "/gift_card/balance": {
            "identifier": {"number": number, "pin": pin},
            "metadata": {"store_id": "store-1"},
        },
        "/gift_card/issue": {
            "amount": {"value": 5, "currency": "USD"},
            "customer": {"id": "c-1", "email": "jay@example.com", "name": "Jay"},
            "metadata": {"store_id": "store-1", "original_operation": "refund"},
            "idempotence_key": "hostile-issue",
        },
        "/gift_card/activate": {
            "card_number": number,
            "amount": {"value": 5, "currency": "USD"},
            "customer": {"id": "c-1", "email": "jay@example.com", "name": "Jay"},
            "metadata": {"store_id": "store-1", "original_operation": "activation"},
            "idempotence_key": "hostile-activate",
        },
        "/gift_card/deactivate": {
            "card_number": "7777000000000001",
            "pin": pin,
            "store_id": "store-1",
            "idempotence_key": "hostile-deactivate",
        },
        "/financial_instruments": {
            "idempotency_key": "hostile-reserve",
            "instrument": {"number": number, "pin": pin},
            "amount": 1,
            "currency": "USD",
            "account_id": "order-1",
            "metadata": {"store_id": "store-1"},
        },
        f"/financial_instruments/{INSTRUMENT}/capture": {
            "idempotency_key": "hostile-capture",
            "amount": 1,
            "currency": "USD",
            "metadata": {"store_id": "store-1"},
        },
        f"/financial_instruments/{INSTRUMENT}/refund": {
            "idempotency_key": "hostile-refund",
            "amount": 1,
            "currency": "USD",
            "metadata": {"store_id": "store-1"},
        },
        f"/financial_instruments/{INSTRUMENT}/revoke": {
            "idempotency_key": "hostile-revoke",
            "amount": 1,
            "currency": "USD",
            "metadata": {"store_id": "store-1"},
        },
    }


def string_fields(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(value, dict):
        for name, item in value.items():
            yield from string_fields(item, (*path, name))
    elif isinstance(value, str):
        yield path


def replaced(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    target = copy
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = value
    return copy


def assert_contract_answer(status: int, headers: dict[str, str], raw: bytes) -> str | None:
    """A 200 or a 4xx with the contract's error body; never a 5xx. Returns the error code."""
    assert status < 500, f"server error {status}"
    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    assert content_type.startswith("application/json")
    if status == 200:
        json.loads(raw)
        return None
    assert 400 <= status < 500
    return error_code(raw)


HOSTILE_STRINGS = {
    "nul": "\u0000",
    "control": "\x07\x08\x1b[31m\x7f",
    "newlines": "a\r\nb\tc\n",
    "bidi": "\u202e\u2066abc\u2069",
    "emoji": "\U0001f600" * 8,
    "lone-surrogate": "\ud800",
    "combining": "e\u0301\u0301\u0301\u0301",
    "arabic-indic-digits": "\u0667\u0667\u0667\u0667",
    "fullwidth-digits": "\uff17" * 16,
    "zero-width": "\u200b\u200c\u200d\ufeff",
    "injection": "' OR 1=1 --${jndi:ldap://x}<script>",
    "long": "A" * 1025,
    "empty": "",
    "blank": "   ",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_STRINGS))
def test_unicode_and_control_characters_in_every_string_field(
    client: Client, card: tuple[str, str], kind: str
) -> None:
    hostile = HOSTILE_STRINGS[kind]
    for path, body in bodies(*card).items():
        for field in string_fields(body):
            # Given a valid request with one string field replaced by hostile text (and a fresh
            # idempotency key, so no answer is a replay of an earlier one)
            request = replaced(body, field, hostile)
            for key_field in KEY_FIELDS & set(request) - {field[0]}:
                request[key_field] = f"hostile-{next(_keys)}"
            # When it is sent; then the answer is a contract answer, never a server error
            assert_contract_answer(*client.post(path, request))
    # And in the path: an instrument id made of hostile text is simply unknown (or not routed)
    for action in ("capture", "refund", "revoke"):
        encoded = quote(hostile.encode("utf-8", "surrogatepass"), safe="")
        path = f"/financial_instruments/{encoded}/{action}"
        body = bodies(*card)[f"/financial_instruments/{INSTRUMENT}/{action}"]
        status, headers, raw = client.post(path, body)
        code = assert_contract_answer(status, headers, raw)
        assert code in ("failed_command", "not_found", "invalid_request")


FREE_FORM = {
    "issue customer": (
        "/gift_card/issue",
        {"amount": {"value": 5, "currency": "USD"}, "customer": {"x": "TEXT"}},
    ),
    "activate customer": (
        "/gift_card/activate",
        {
            "card_number": "7777000000000001",
            "amount": {"value": 5, "currency": "USD"},
            "customer": {"x": {"y": "TEXT"}},
        },
    ),
    "reserve metadata": (
        "/financial_instruments",
        {
            "idempotency_key": "surrogate-reserve",
            "instrument": {"number": "7777000000000001"},
            "amount": 1,
            "currency": "USD",
            "metadata": {"x": "TEXT"},
        },
    ),
    "capture metadata": (
        f"/financial_instruments/{INSTRUMENT}/capture",
        {
            "idempotency_key": "surrogate-capture",
            "amount": 1,
            "currency": "USD",
            "metadata": {"x": ["TEXT"]},
        },
    ),
}


@pytest.mark.parametrize("case", sorted(FREE_FORM))
def test_lone_surrogates_in_free_form_fields_are_invalid_requests(
    client: Client, case: str
) -> None:
    # Free-form fields are kept (customer data, sealed) or echoed (payment metadata): text that
    # is no valid Unicode must be refused up front, not fail when it is stored or echoed.
    path, body = FREE_FORM[case]
    text = json.dumps(body)
    for raw in (text.replace('"TEXT"', '"\\ud800"'), text.replace('"x"', '"\\udfff"')):
        status, headers, answer = client.post(path, raw=raw.encode())
        assert (status, assert_contract_answer(status, headers, answer)) == REQUEST_ERROR


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"",
        b"{",
        b'{"identifier": {"number": "1"}',
        b"\xff\xfe\x00{",
        b"[]",
        b"null",
        b"123",
        b'"a string"',
        b"{'single': 'quotes'}",
        b'{"identifier": {"number": "7777000000000001"}} trailing',
    ],
    ids=lambda raw: repr(raw[:20]),
)
def test_bodies_that_are_not_a_json_object_are_invalid_requests(client: Client, raw: bytes) -> None:
    for path in ("/gift_card/balance", "/gift_card/issue", "/financial_instruments"):
        status, headers, answer = client.post(path, raw=raw)
        assert (status, assert_contract_answer(status, headers, answer)) == REQUEST_ERROR


def test_invalid_utf8_in_a_string_is_refused(client: Client) -> None:
    # Bytes that are not UTF-8 inside a JSON string: refused (the gateway may pass them on as
    # replacement characters, then the number is simply unknown), never a server error
    raw = b'{"identifier": {"number": "\xff\xfe7777"}}'
    status, headers, answer = client.post("/gift_card/balance", raw=raw)
    assert status == 400
    assert assert_contract_answer(status, headers, answer) in ("invalid_request", "invalid_card")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "nan", "inf"])
def test_nan_and_infinity_literals_are_invalid_requests(client: Client, literal: str) -> None:
    raw = f'{{"amount": {{"value": {literal}, "currency": "USD"}}, "customer": {{}}}}'.encode()
    status, headers, answer = client.post("/gift_card/issue", raw=raw)
    assert (status, assert_contract_answer(status, headers, answer)) == REQUEST_ERROR
    raw = f'{{"identifier": {{"number": "1"}}, "metadata": {{"x": {literal}}}}}'.encode()
    status, headers, answer = client.post("/gift_card/balance", raw=raw)
    assert (status, assert_contract_answer(status, headers, answer)) == REQUEST_ERROR


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("1e400", "amount_out_of_range"),
        ("1e1000", "amount_out_of_range"),
        ("9" * 100, "amount_out_of_range"),
        # absurd literals (over 100 digits, an exponent beyond +-1000): invalid_request
        ("1E+999999999", "invalid_request"),
        ("1e1001", "invalid_request"),
        ("9" * 10_000, "invalid_request"),
        ("-1e400", "invalid_request"),
        ("1e-400", "invalid_request"),
        ("5e-999999999", "invalid_request"),
        ("0." + "0" * 4999 + "5", "invalid_request"),
        ("5." + "0" * 5000, "invalid_request"),  # exactly 5, but written with 5,001 digits
        ("5." + "0" * 99, None),  # exactly 5 in 100 digits: accepted
        ("5" + "0" * 99 + "e-99", None),  # exactly 5 again
        ("-0", "invalid_request"),
        ("0e999999999", "invalid_request"),
    ],
    ids=lambda value: value[:12] if isinstance(value, str) else str(value),
)
def test_huge_and_tiny_numbers_as_amounts(
    client: Client, literal: str, expected: str | None
) -> None:
    # Given an amount written as an extreme JSON number
    raw = f'{{"amount": {{"value": {literal}, "currency": "USD"}}, "customer": {{}}}}'.encode()
    # When a card is issued with it
    status, headers, answer = client.post("/gift_card/issue", raw=raw)
    # Then it is refused as a request error, or (when it is exactly a valid amount) accepted
    code = assert_contract_answer(status, headers, answer)
    assert code == expected
    if expected is None:
        assert json.loads(answer)["amount"] == {"value": 5, "currency": "USD"}
    # And the same numbers anywhere else (free-form metadata, a card number) never break anything
    raw = f'{{"identifier": {{"number": {literal}}}, "metadata": {{"n": {literal}}}}}'.encode()
    status, headers, answer = client.post("/gift_card/balance", raw=raw)
    assert (status, assert_contract_answer(status, headers, answer)) == REQUEST_ERROR


def test_big_numbers_in_free_form_fields_are_ignored_and_absurd_ones_refused(
    client: Client, fresh_card: tuple[str, str]
) -> None:
    number, pin = fresh_card
    identifier = f'"identifier": {{"number": "{number}", "pin": "{pin}"}}'
    # At the limits (100 digits, exponents of +-1000): ignored
    big = "9" * 100
    raw = f'{{{identifier}, "metadata": {{"big": {big}, "tiny": 1e-1000, "e": 1E+1000}}}}'
    status, headers, answer = client.post("/gift_card/balance", raw=raw.encode())
    assert assert_contract_answer(status, headers, answer) is None
    assert json.loads(answer) == {"value": 100, "currency": "USD"}
    # Beyond them: invalid_request, wherever they are
    for absurd in ("9" * 10_000, "1e-1001", "1E+999999999"):
        raw = f'{{{identifier}, "metadata": {{"store_id": "s", "n": [{absurd}]}}}}'
        status, headers, answer = client.post("/gift_card/balance", raw=raw.encode())
        assert (status, assert_contract_answer(status, headers, answer)) == REQUEST_ERROR


def test_free_form_numbers_never_inflate_an_answer(
    client: Client, fresh_card: tuple[str, str]
) -> None:
    number, pin = fresh_card
    reserve = bodies(number, pin)["/financial_instruments"]
    # The reported 189-byte reserve whose answer was 3 MB: refused, with a small answer
    raw = json.dumps({**reserve, "idempotency_key": "inflate-1", "metadata": "M"}).replace(
        '"M"', '{"a": 1E+999999, "b": 1E+999999, "c": 1E+999999}'
    )
    status, headers, answer = client.post("/financial_instruments", raw=raw.encode())
    assert (status, assert_contract_answer(status, headers, answer)) == REQUEST_ERROR
    assert len(answer) < 300
    # The widest accepted echo: 1E+1000 repeated up to the metadata cap, echoed as written
    many = ", ".join(["1E+1000"] * 1_500)
    raw = json.dumps({**reserve, "idempotency_key": "inflate-2", "metadata": "M"}).replace(
        '"M"', f'{{"n": [{many}]}}'
    )
    status, headers, answer = client.post("/financial_instruments", raw=raw.encode())
    assert assert_contract_answer(status, headers, answer) is None
    assert len(answer) < 64 * 1024
    assert many in answer.decode()


@pytest.mark.parametrize("depth", [100, 1_000, 30_000])
def test_deeply_nested_json(client: Client, card: tuple[str, str], depth: int) -> None:
    number, pin = card
    nested = "[" * depth + "]" * depth
    # As the whole body: not an object
    status, headers, answer = client.post("/gift_card/balance", raw=nested.encode())
    assert (status, assert_contract_answer(status, headers, answer)) == REQUEST_ERROR
    # Inside free-form metadata: accepted when the parser can hold it, else invalid_request
    raw = (
        f'{{"identifier": {{"number": "{number}", "pin": "{pin}"}}, "metadata": {{"x": {nested}}}}}'
    ).encode()
    status, headers, answer = client.post("/gift_card/balance", raw=raw)
    code = assert_contract_answer(status, headers, answer)
    assert code in (None, "invalid_request")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/gift_card/issue", "idempotence_key"),
        ("/gift_card/activate", "idempotence_key"),
        ("/gift_card/deactivate", "idempotence_key"),
        ("/financial_instruments", "idempotency_key"),
        (f"/financial_instruments/{INSTRUMENT}/capture", "idempotency_key"),
    ],
)
def test_idempotency_keys_over_255_characters_are_invalid_requests(
    client: Client, card: tuple[str, str], path: str, field: str
) -> None:
    body = bodies(*card)[path]
    # 256 characters (also: 256 code points of multi-byte text): refused, nothing stored
    for key in ("k" * 256, "\u00e9" * 256, "k" * 10_000):
        status, headers, answer = client.post(path, {**body, field: key})
        assert (status, assert_contract_answer(status, headers, answer)) == REQUEST_ERROR
    # 255 characters: a valid key
    status, headers, answer = client.post(path, {**body, field: "k" * 255})
    assert assert_contract_answer(status, headers, answer) != "invalid_request"


def test_object_keys_of_300_characters_are_ignored(
    client: Client, fresh_card: tuple[str, str]
) -> None:
    number, pin = fresh_card
    long_name = "x" * 300
    body = {
        "identifier": {"number": number, "pin": pin, long_name: "ignored"},
        "metadata": {"store_id": "s", long_name: {long_name: 1}},
        long_name: [1, 2, 3],
        "\u0000" * 300: "nul",
    }
    status, headers, answer = client.post("/gift_card/balance", body)
    assert assert_contract_answer(status, headers, answer) is None
    assert json.loads(answer) == {"value": 100, "currency": "USD"}


@pytest.mark.parametrize("size", [64 * 1024 + 1, 1024 * 1024])
def test_oversized_bodies_get_413(client: Client, card: tuple[str, str], size: int) -> None:
    number, pin = card
    prefix = f'{{"identifier": {{"number": "{number}", "pin": "{pin}"}}, "metadata": {{"pad": "'
    raw = (prefix + "x" * (size - len(prefix) - 3) + '"}}').encode()
    assert len(raw) == size
    for path in ("/gift_card/balance", "/financial_instruments"):
        status, headers, answer = client.post(path, raw=raw)
        assert (status, assert_contract_answer(status, headers, answer)) == (
            413,
            "payload_too_large",
        )


def test_a_body_of_exactly_64_kib_is_served(client: Client, card: tuple[str, str]) -> None:
    number, pin = card
    prefix = f'{{"identifier": {{"number": "{number}", "pin": "{pin}"}}, "metadata": {{"pad": "'
    raw = (prefix + "x" * (64 * 1024 - len(prefix) - 3) + '"}}').encode()
    status, headers, answer = client.post("/gift_card/balance", raw=raw)
    assert assert_contract_answer(status, headers, answer) is None


def test_unknown_paths_and_methods_get_the_contract_body(client: Client, api: LocalApi) -> None:
    status, headers, raw = client.post("/gift_card/../../etc/passwd", {})
    assert assert_contract_answer(status, headers, raw) in ("not_found", "invalid_request")
    status, headers, raw = client.post("/gift_card/balance%00", {})
    assert assert_contract_answer(status, headers, raw) in ("not_found", "invalid_request")
    status, headers, raw = api.request("PUT", "/gift_card/balance", b"{}", api.auth_headers())
    assert (status, assert_contract_answer(status, headers, raw)) == (405, "method_not_allowed")
