"""The publisher against a fake EventBridge: chunks of 10 in stream order, and partial batch
failures as Lambda reads them for streams (the lowest reported sequence number is the
checkpoint; everything from it on is retried), so one bad record neither blocks nor repeats
what came before it."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from giftcard import items, publisher
from tests.unit.test_events import entry_item, stream_record

BUS = "giftcards-bus"


class FakeEventBridge:
    """Records every PutEvents call; refuses the entries (by event id) or calls it is told to."""

    def __init__(self, refuse: set[str] | None = None, fail_calls: set[int] | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.refuse = refuse or set()
        self.fail_calls = fail_calls or set()

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if len(self.calls) in self.fail_calls:
            raise ConnectionError("EventBridge unreachable")
        results = []
        for entry in Entries:
            if json.loads(entry["Detail"])["event_id"] in self.refuse:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                results.append({"EventId": f"eb-{len(results)}"})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}

    def published_ids(self) -> list[str]:
        return [json.loads(e["Detail"])["event_id"] for call in self.calls for e in call]


def entry_records(count: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` stream records of new entries (entry ids e0000.., sequence numbers 100..)."""
    return [
        stream_record(
            entry_item(
                "issue",
                SK=f"ENTRY#2027-01-15T08:00:00.{n:06d}Z#e{n:04d}",
                amount=Decimal(100 + n),
            ),
            sequence=str(100 + n),
        )
        for n in range(start, start + count)
    ]


def ids(first: int, last: int) -> list[str]:
    return [f"e{n:04d}" for n in range(first, last + 1)]


def publish(records: list[dict[str, Any]], client: FakeEventBridge) -> publisher.BatchOutcome:
    return publisher.publish_batch(records, client=client, bus_name=BUS)


def test_a_batch_goes_out_ten_at_a_time_in_stream_order() -> None:
    client = FakeEventBridge()
    outcome = publish(entry_records(25), client)
    assert [len(call) for call in client.calls] == [10, 10, 5]
    assert client.published_ids() == ids(0, 24)
    assert {entry["EventBusName"] for call in client.calls for entry in call} == {BUS}
    assert outcome.response() == {"batchItemFailures": []}


def test_an_entry_eventbridge_refuses_is_the_checkpoint_and_nothing_after_its_call_is_sent() -> (
    None
):
    # Given EventBridge refuses the 14th entry (the 4th of the second call)
    client = FakeEventBridge(refuse={"e0013"})
    outcome = publish(entry_records(25), client)
    # Then Lambda is told to retry from its record; the third call is never made
    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": "113"}]}
    assert len(client.calls) == 2
    # and what went out before it is done (the rest of its call went out too: at least once)
    assert [e.event_id for e in outcome.published] == ids(0, 12) + ids(14, 19)


def test_a_failed_call_is_the_checkpoint_at_its_first_record() -> None:
    client = FakeEventBridge(fail_calls={2})
    outcome = publish(entry_records(25), client)
    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": "110"}]}
    assert [e.event_id for e in outcome.published] == ids(0, 9)
    assert len(client.calls) == 2


def test_a_retry_from_the_checkpoint_publishes_the_rest_with_the_same_event_ids() -> None:
    # Given a first attempt refused at e0013
    records = entry_records(25)
    first = publish(records, FakeEventBridge(refuse={"e0013"}))
    checkpoint = first.response()["batchItemFailures"][0]["itemIdentifier"]
    # When Lambda retries from the checkpoint (as it does for streams)
    retried = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) >= int(checkpoint)]
    client = FakeEventBridge()
    second = publish(retried, client)
    # Then every entry has been published, each under its entry id, nothing before it again
    assert second.response() == {"batchItemFailures": []}
    assert client.published_ids() == ids(13, 24)
    assert {e.event_id for e in first.published + second.published} == set(ids(0, 24))


def test_an_unreadable_record_is_the_checkpoint_and_records_before_it_go_out() -> None:
    # Given a batch whose 6th record is an entry of a kind without a detail-type
    records = entry_records(10)
    records[5] = stream_record(entry_item("teleport"), sequence="105")
    client = FakeEventBridge()
    outcome = publish(records, client)
    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": "105"}]}
    # Then the five before it are published, and nothing after it (it is retried from there)
    assert client.published_ids() == ids(0, 4)


def test_records_that_are_not_entries_are_skipped_not_reported() -> None:
    card = stream_record(
        {"PK": items.card_pk("lk"), "SK": items.CARD_SK, "type": "card"}, sequence="99"
    )
    modify = stream_record(entry_item(), name="MODIFY", sequence="98")
    client = FakeEventBridge()
    outcome = publish([modify, card, *entry_records(2)], client)
    assert outcome.skipped == 2
    assert client.published_ids() == ids(0, 1)
    assert outcome.response() == {"batchItemFailures": []}


def test_an_entry_repeated_in_a_batch_is_published_once() -> None:
    records = entry_records(3)
    repeated = [*records, {**records[1], "dynamodb": {**records[1]["dynamodb"]}}]
    client = FakeEventBridge()
    outcome = publish(repeated, client)
    assert client.published_ids() == ids(0, 2)
    assert outcome.repeated == 1


def test_an_empty_batch_publishes_nothing() -> None:
    client = FakeEventBridge()
    assert publish([], client).response() == {"batchItemFailures": []}
    assert client.calls == []


@pytest.mark.parametrize("refused", ["e0000", "e0009"])
def test_the_first_and_last_entries_of_a_call_are_reported_as_themselves(refused: str) -> None:
    outcome = publish(entry_records(10), FakeEventBridge(refuse={refused}))
    expected = str(100 + int(refused[1:]))
    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": expected}]}


def test_the_handler_answers_lambda_with_the_partial_batch_response(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from functions.event_publisher.handler import lambda_handler
    from giftcard import aws

    client = FakeEventBridge(refuse={"e0002"})
    monkeypatch.setattr(aws, "client", lambda service: client)
    monkeypatch.setenv("EVENT_BUS_NAME", "from-the-environment")
    from giftcard.settings import get_settings

    get_settings.cache_clear()
    try:
        answer = lambda_handler({"Records": entry_records(4)}, None)
    finally:
        get_settings.cache_clear()
    assert answer == {"batchItemFailures": [{"itemIdentifier": "102"}]}
    assert {entry["EventBusName"] for call in client.calls for entry in call} == {
        "from-the-environment"
    }
