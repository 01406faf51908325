"""The documented examples (docs/examples/instrument_*.json, used by docs/contract.md and the
OpenAPI document) are what the service really answers: run them in order and compare."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from giftcard.jsonio import loads
from tests.integration.test_redemption import ISO_Z, Api, make_api
from tests.support.aws import offline_aws

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
VARYING = ("transaction_id", "instrument_id", "processed_at")


def example(name: str) -> Any:
    return loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def comparable(body: Any) -> Any:
    """The body without what differs on every run (ids, times), which are checked for shape."""
    body = json.loads(json.dumps(body, default=str))
    body.pop("identifier", None)
    for transaction in body["transactions"]:
        assert ISO_Z.match(transaction["processed_at"])
        for name in VARYING:
            transaction.pop(name)
    return body


@pytest.fixture
def api() -> Iterator[Api]:
    with offline_aws():
        yield make_api()


def test_the_documented_flow_answers_as_documented(api: Api) -> None:
    # Given a card holding 100 USD in place of the example's card
    card = api.issue(100)
    request = example("instrument_create.request")
    request["instrument"] = card

    # When the example requests are sent in order
    created = api.post("instrument_create", request)
    assert created.status == 200, created.text
    instrument_id = created.body["identifier"]
    answers = {"instrument_create": created}
    for operation in ("instrument_capture", "instrument_refund", "instrument_revoke"):
        answers[operation] = api.post(operation, example(f"{operation}.request"), instrument_id)

    # Then each answer is the documented one (ids and times aside)
    for operation, answer in answers.items():
        assert answer.status == 200, (operation, answer.text)
        assert comparable(answer.body) == comparable(example(f"{operation}.response")), operation
        for transaction in answer.body["transactions"]:
            assert transaction["instrument_id"] == instrument_id
    assert (
        example("instrument_create.response")["identifier"]
        == (example("instrument_capture.response")["transactions"][0]["instrument_id"])
    )
    api.assert_invariants()
