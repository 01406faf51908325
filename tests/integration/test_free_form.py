"""Free-form fields never cost a 5xx or an oversized answer (contract: "Free-form fields").

Payment metadata is echoed in the answer's transactions, numbers exactly as written; a number
literal with more than 100 digits or an exponent beyond +-1000 is refused as ``invalid_request``
before anything is decided; payment metadata is at most 16 KiB as echoed, so no answer exceeds
64 KiB. The reproductions (issue 11): ``1E+999999999`` in a reserve's metadata answered 500;
three ``1E+999999`` in a 189-byte reserve made a 3 MB answer, four in a capture an 8 MB answer
after committing (over Lambda's 6 MB limit: a 502 on every retry in AWS).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from giftcard.jsonio import loads
from giftcard.models import MAX_METADATA_BYTES
from tests.support.calls import Answer, card_number, invoke, load_stock

pytestmark = pytest.mark.usefixtures("ledger_checked")

LIMIT = 64 * 1024
PAYMENT = ("instrument_create", "instrument_capture", "instrument_refund", "instrument_revoke")
COMMANDS = PAYMENT[1:]


def with_raw(body: dict[str, Any], field: str, raw: str) -> str:
    """``body`` as JSON with ``field`` set to the JSON text ``raw``, written as it is."""
    return json.dumps({**body, field: "@RAW@"}).replace('"@RAW@"', raw)


class Shop:
    """A card holding 100 USD, 50 of them reserved and 20 of those captured."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.keys = 0
        issued = self.post("issue", {"amount": {"value": 100, "currency": "USD"}, "customer": {}})
        self.card = issued.json["identifier"]
        reserved = self.post(
            "instrument_create",
            {"idempotency_key": "r-0", "instrument": self.card, "amount": 50, "currency": "USD"},
        )
        self.instrument_id = reserved.json["identifier"]
        assert self.command("instrument_capture", amount=20).status == 200

    def post(self, function: str, body: Any = None, raw: str | None = None) -> Answer:
        path = {"instrument_id": self.instrument_id} if function in COMMANDS else None
        return invoke(
            function,
            None if raw is not None else body,
            raw=raw,
            services=self.services,
            path_parameters=path,
        )

    def body(self, function: str, **fields: Any) -> dict[str, Any]:
        self.keys += 1
        key = f"k-{self.keys}"
        base: dict[str, Any] = {"amount": 5, "currency": "USD"}
        if function == "instrument_create":
            base["instrument"] = self.card
        return {"idempotency_key": key, **base, **fields}

    def command(self, function: str, **fields: Any) -> Answer:
        return self.post(function, self.body(function, **fields))

    def with_metadata(self, function: str, metadata: str) -> Answer:
        return self.post(function, raw=with_raw(self.body(function), "metadata", metadata))

    def state(self) -> tuple[Any, ...]:
        """What the card and instrument hold, to show nothing changed."""
        keys = self.services.context("test", "test").keys
        card = self.services.repository.get_card(keys.card_lookup(self.card["number"]))
        _c, _r, instrument = self.services.repository.get_many(None, None, self.instrument_id)
        return (card.balance, card.held, instrument.captured, instrument.refunded)


@pytest.fixture
def shop(services: Any) -> Shop:
    return Shop(services)


ABSURD = {
    "huge exponent": "1E+999999999",
    "exponent 1001": "1e1001",
    "tiny exponent": "5e-1001",
    "101 digits": "9" * 101,
    "101 digits after the point": "0." + "0" * 100 + "1",
}


@pytest.mark.parametrize("function", PAYMENT)
@pytest.mark.parametrize("literal", sorted(ABSURD))
def test_absurd_numbers_in_payment_metadata_are_refused_before_anything_happens(
    shop: Shop, function: str, literal: str
) -> None:
    before = shop.state()
    # When a payment command's metadata holds an absurd number literal
    answer = shop.with_metadata(function, f'{{"store_id": "s-1", "n": {ABSURD[literal]}}}')
    # Then it is an invalid request (was a 500 for 1E+999999999), and nothing changed
    assert (answer.status, answer.error_code) == (400, "invalid_request")
    assert "digits" in answer.json["message"]
    assert shop.state() == before


@pytest.mark.parametrize("function", PAYMENT)
def test_the_reported_amplifications_are_refused(shop: Shop, function: str) -> None:
    # Given the reported requests: three (reserve) or four (capture) 1E+999999 in the metadata
    before = shop.state()
    metadata = '{"a": 1E+999999, "b": 1E+999999, "c": 1E+999999, "d": 1E+999999}'
    answer = shop.with_metadata(function, metadata)
    # Then a small refusal, not megabytes after committing
    assert (answer.status, answer.error_code) == (400, "invalid_request")
    assert len(answer.body) < 300
    assert shop.state() == before


@pytest.mark.parametrize("function", PAYMENT)
def test_numbers_in_payment_metadata_are_echoed_exactly_as_written(
    shop: Shop, function: str
) -> None:
    # Given metadata with numbers at the limits and in unusual spellings
    written = (
        '{"store_id": "s-1", "big": 1E+1000, "tiny": -5e-1000, "digits": '
        + "9" * 100
        + ', "trailing": 1.50, "exp": 2.5E3, "zero": -0, "nested": [1e2, {"x": 0.010}]}'
    )
    # When a payment command carries it
    answer = shop.with_metadata(function, written)
    # Then it succeeds and every transaction echoes each literal as it was written
    assert answer.status == 200, answer.body
    transactions = answer.json["transactions"]
    assert transactions
    for transaction in transactions:
        start = answer.body.index('"metadata": ', answer.body.index(transaction["transaction_id"]))
        echoed = answer.body[start + len('"metadata": ') :][: len(written)]
        assert echoed == written
    assert len(answer.body) < 2 * len(written) + 1024


@pytest.mark.parametrize("function", PAYMENT)
def test_payment_metadata_is_capped_so_no_answer_exceeds_64_kib(shop: Shop, function: str) -> None:
    # Given metadata whose echo is exactly at the cap (compact input: the echo adds spaces)
    items = (MAX_METADATA_BYTES - len('{"m": []}')) // 3 + 1  # echoed: '{"m": [1, 1, ..., 1]}'
    at_cap = "[" + ",".join(["1"] * items) + "]"
    assert len(f'{{"m": {at_cap}}}'.replace(",", ", ")) == MAX_METADATA_BYTES
    # When a payment command carries it: accepted, and even a capture (two transactions, each
    # echoing it) answers under 64 KiB
    answer = shop.with_metadata(function, f'{{"m": {at_cap}}}')
    assert answer.status == 200, answer.body[:200]
    assert len(answer.body.encode()) < LIMIT
    # When the metadata is one byte over: refused before anything happens
    before = shop.state()
    over = "x" * (MAX_METADATA_BYTES - len('{"m": ""}') + 1)
    answer = shop.with_metadata(function, json.dumps({"m": over}))
    assert (answer.status, answer.error_code) == (400, "invalid_request")
    assert "metadata" in answer.json["message"]
    assert shop.state() == before


def test_a_capture_at_the_limits_answers_under_64_kib(shop: Shop) -> None:
    # The worst accepted capture: 16 KiB of metadata made of the widest-echoing literals
    literal = "1E+1000"
    count = MAX_METADATA_BYTES // (len(literal) + 2) - 1
    metadata = "[" + ", ".join([literal] * count) + "]"
    answer = shop.with_metadata("instrument_capture", f'{{"m": {metadata}}}')
    assert answer.status == 200, answer.body[:200]
    assert len(answer.body.encode()) < LIMIT


# Issue and activate: metadata and customer data are kept or ignored, never echoed -------------


def test_absurd_numbers_in_issue_metadata_or_customer_are_refused(services: Any) -> None:
    base = {"amount": {"value": 10, "currency": "USD"}, "customer": {"id": "c-1"}}
    for field, raw in (
        ("metadata", '{"store_id": "s-1", "n": 1E+999999999}'),
        ("customer", '{"id": "c-1", "n": ' + "9" * 101 + "}"),
    ):
        answer = invoke("issue", raw=with_raw(base, field, raw), services=services)
        assert (answer.status, answer.error_code) == (400, "invalid_request")
    # Numbers within the limits are fine (kept, never echoed)
    answer = invoke(
        "issue",
        raw=with_raw(base, "metadata", '{"store_id": "s-1", "n": 1E+1000, "m": -1e-1000}'),
        services=services,
    )
    assert answer.status == 200
    assert "1E+1000" not in answer.body
    assert set(loads(answer.body)) == {"identifier", "amount"}


def test_absurd_numbers_in_activate_metadata_or_customer_are_refused(services: Any) -> None:
    number = card_number(7101)
    load_stock([(number, None)])
    base = {"card_number": number, "amount": {"value": 10, "currency": "USD"}}
    for field, raw in (
        ("metadata", '{"n": 1E+999999999}'),
        ("customer", '{"n": [1e1001]}'),
    ):
        answer = invoke("activate", raw=with_raw(base, field, raw), services=services)
        assert (answer.status, answer.error_code) == (400, "invalid_request")
    # The card was not activated by the refused requests
    answer = invoke(
        "activate",
        raw=with_raw(base, "metadata", '{"store_id": "s-1", "n": 1E+1000}'),
        services=services,
    )
    assert answer.status == 200
    assert answer.json == {"identifier": {"number": number}}
    assert invoke("balance", {"identifier": {"number": number}}, services=services).json == {
        "value": Decimal(10),
        "currency": "USD",
    }
