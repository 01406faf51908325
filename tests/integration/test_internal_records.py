"""Internal idempotency records are out of every client's reach (contract: "Idempotency").

Without a client key, issue, activate and deactivate keep a record under the request id (our own
retry after a lost response then replays), and the expiry job keys its releases
``expiry:<instrument id>:<version>``. A client sees those ids: the request id in the
``x-amzn-RequestId`` header, log lines and ledger entries, instrument ids in answers. Sent as a
client key, none of them may replay one of these records (an issued card's number and PIN).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from functions.reservation_expiry.handler import lambda_handler as expiry_handler
from giftcard.clock import FixedClock
from giftcard.items import RECORD_SK
from tests.support.calls import CapturedLogs, card_number, invoke, load_stock
from tests.support.events import LambdaContext

pytestmark = pytest.mark.usefixtures("ledger_checked")

WEEK = 7 * 86400
COMMANDS = ("instrument_capture", "instrument_refund", "instrument_revoke")


def internal_answers(services: Any) -> dict[str, str]:
    """Every idempotency record in the table: pk -> the answer it would replay."""
    keys = services.context("test", "test").keys
    answers = {}
    for item in services.repository.scan_all():
        if item.get("SK") == RECORD_SK:
            body = item["body"]
            sealed = bytes(body.value if hasattr(body, "value") else body)
            answers[item["PK"]] = keys.unseal(sealed, item["PK"])
    return answers


def request_for(function: str, key: str, card: dict[str, str]) -> dict[str, Any]:
    """A request to ``function`` carrying ``key``, whose own answer differs from every internal
    record's: a fresh card, a fresh transaction id, or a refusal."""
    usd = {"value": Decimal(5), "currency": "USD"}
    unknown = card_number(999_001)
    return {
        "issue": {"amount": usd, "customer": {}, "idempotence_key": key},
        "activate": {"card_number": unknown, "amount": usd, "idempotence_key": key},
        "deactivate": {"card_number": unknown, "idempotence_key": key},
        "instrument_create": {
            "idempotency_key": key,
            "instrument": card,
            "amount": Decimal(1),
            "currency": "USD",
        },
    }.get(function, {"idempotency_key": key, "amount": Decimal(1), "currency": "USD"})


@pytest.mark.parametrize(
    "function", ["issue", "activate", "deactivate", "instrument_create", *COMMANDS]
)
def test_no_id_the_service_exposes_replays_an_internal_record_as_a_client_key(
    services: Any, clock: FixedClock, function: str
) -> None:
    # Given records the service made for itself: an issue, an activation and a deactivation
    # without a key, and the expiry job's release of an expired reservation
    stock = card_number(6101)
    load_stock([(stock, None)])
    with CapturedLogs() as logs:
        issued = invoke(
            "issue", {"amount": {"value": 50, "currency": "USD"}, "customer": {}}, services=services
        )
        card = issued.json["identifier"]
        activated = invoke(
            "activate",
            {"card_number": stock, "amount": {"value": 20, "currency": "USD"}},
            services=services,
        )
        clock.advance(1)
        deactivated = invoke("deactivate", {"card_number": stock}, services=services)
        reserved = invoke(
            "instrument_create",
            {"idempotency_key": "k-1", "instrument": card, "amount": 10, "currency": "USD"},
            services=services,
        )
        clock.advance(WEEK + 1)
        summary = expiry_handler({}, LambdaContext(), services=services)
    assert [a.status for a in (issued, activated, deactivated, reserved)] == [200] * 4
    assert summary["released"] == 1
    instrument_id = reserved.json["identifier"]
    answers = internal_answers(services)
    assert len(answers) == 5  # 3 without a key, the reserve's and the expiry job's

    # And every id a client can see: request ids (log lines, ledger entries; the local run's
    # x-amzn-RequestId header is the same id), instrument and transaction ids, the ledger's record
    # keys, and the expiry job's key for the instrument's versions
    keys = services.context("test", "test").keys
    ledger = [
        entry
        for number in (card["number"], stock)
        for entry in services.repository.ledger(keys.card_lookup(number))
    ]
    request_ids = {str(r["request_id"]) for r in logs.records if r.get("request_id")}
    request_ids |= {e.request_id for e in ledger}
    assert len(request_ids) == 5  # issue, activate, deactivate, reserve, the expiry job
    candidates = request_ids | {f"request:{value}" for value in request_ids}
    candidates |= {e.record_pk for e in ledger} | {e.record_pk.rsplit("#", 1)[-1] for e in ledger}
    candidates |= {instrument_id, reserved.json["transactions"][0]["transaction_id"]}
    candidates |= {f"expiry:{instrument_id}:{version}" for version in (1, 2)}

    # When each is sent as the client key
    for key in sorted(candidates):
        path = {"instrument_id": instrument_id} if function in COMMANDS else None
        clock.advance(0.001)  # the ledger check orders entries by time
        answer = invoke(
            function, request_for(function, key, card), services=services, path_parameters=path
        )
        # Then the request is decided on its own, never answered from an internal record
        assert answer.status in (200, 400), answer.body
        assert answer.body not in answers.values(), f"{function} replayed an internal record"
        if function == "issue":
            assert answer.json["identifier"]["number"] != card["number"]
