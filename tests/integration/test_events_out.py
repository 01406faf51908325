"""Events out on moto: the webhooks write ledger entries, the table's stream carries them, the
publisher (through the local run's stream poller, and through its Lambda handler) puts one event
per entry on the bus, and an EventBridge rule delivers them to an SQS queue, as a consumer sees
them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from giftcard import events, items
from giftcard.settings import get_settings
from tests.integration.test_redemption import Api, make_api
from tests.support.aws import API_KEY_ID, offline_aws
from tests.support.calls import SECRETS, assert_no_secrets
from tests.support.events import LambdaContext
from tests.support.flows import stock_card
from tools.local_api.events import KEEP, EventsPoller, lambda_record, streams_client

BUS = "giftcards-events-test"
ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "events" / "detail.schema.json").read_text(encoding="utf-8"))
CUSTOMER = {"id": "64810476", "name": "Jay Doubleyou", "email": "jay.doubleyou@example.com"}
STORE = "store-berlin-1"


@dataclass
class World:
    api: Api
    poller: EventsPoller
    queue_url: str

    def received(self) -> list[dict[str, Any]]:
        """Every event the consumer's queue got so far (bodies parsed with exact numbers)."""
        import boto3

        sqs = boto3.client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"], parse_float=Decimal, parse_int=Decimal))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def subscribe() -> str:
    """A consumer: a rule on the bus for source giftcard, delivering to an SQS queue."""
    import boto3

    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="consumer")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    bridge = boto3.client("events")
    bridge.put_rule(
        Name="all-gift-card-events",
        EventBusName=BUS,
        EventPattern=json.dumps({"source": [events.SOURCE]}),
    )
    bridge.put_targets(
        Rule="all-gift-card-events", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}]
    )
    return str(queue_url)


@pytest.fixture
def world() -> Iterator[World]:
    with offline_aws(env={"EVENT_BUS_NAME": BUS}):
        poller = EventsPoller(get_settings())
        poller.enable_stream()
        yield World(make_api(), poller, subscribe())


def by_card(received: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    cards: dict[str, list[dict[str, Any]]] = {}
    for event in received:
        cards.setdefault(event["detail"]["card_id"], []).append(event)
    return cards


def money(value: Any) -> dict[str, Any] | None:
    return None if value is None else {"value": Decimal(value), "currency": "USD"}


def every_operation(api: Api) -> dict[str, Any]:
    """Issue (and its replay), a balance, activation of a stock card, reserve, capture, refund,
    revoke, deactivation of both cards (one with a reservation still open) and the release of
    that reservation afterwards. Returns the two cards and the reservation ids."""
    key = str(uuid.uuid4())
    issue_body = {
        "amount": {"value": 50, "currency": "USD"},
        "customer": CUSTOMER,
        "metadata": {"store_id": STORE},
        "idempotence_key": key,
    }
    issued = api.post("issue", issue_body)
    assert issued.status == 200, issued.text
    assert api.post("issue", issue_body).text == issued.text  # a replay: no new entry
    issued_card = dict(issued.body["identifier"])
    SECRETS.add_card(issued_card["number"], issued_card["pin"])
    SECRETS.add("e-mail", CUSTOMER["email"])
    assert api.balance(issued_card).status == 200  # reads: no entry

    number, pin = stock_card()
    SECRETS.add_card(number, pin)
    stock = {"number": number, "pin": pin}
    activated = api.post(
        "activate",
        {
            "card_number": number,
            "amount": {"value": 100, "currency": "USD"},
            "metadata": {"store_id": STORE},
            "idempotence_key": str(uuid.uuid4()),
        },
    )
    assert activated.status == 200, activated.text

    first = api.reserve(stock, 40, metadata={"store_id": STORE})
    assert first.status == 200, first.text
    first_id = first.body["identifier"]
    assert api.capture(first_id, 30).status == 200
    assert api.refund(first_id, 10).status == 200
    assert api.revoke(first_id).status == 200
    second = api.reserve(stock, 20)
    assert second.status == 200, second.text
    second_id = second.body["identifier"]
    assert api.deactivate(stock).status == 200
    assert api.revoke(second_id).status == 200  # after deactivation: the release is voided
    assert api.deactivate(issued_card).status == 200
    return {"issued": issued_card, "stock": stock, "reservations": [first_id, second_id]}


def test_every_operation_publishes_its_events_in_order_per_card(world: World) -> None:
    # Given every webhook operation run against the table
    flow = every_operation(world.api)

    # When the publisher reads the table's stream
    published = world.poller.poll_once()

    # Then the consumer's queue holds exactly one event per ledger entry, in order per card
    received = world.received()
    assert len(received) == len(published) == 10
    cards = by_card(received)
    issued_id = items.card_id(world.api.lookup(flow["issued"]))
    stock_id = items.card_id(world.api.lookup(flow["stock"]))
    assert set(cards) == {issued_id, stock_id}
    first, second = flow["reservations"]

    def summary(event: dict[str, Any]) -> tuple[Any, ...]:
        d = event["detail"]
        return (event["detail-type"], d["amount"], d["balance_after"], d["held_after"])

    assert [summary(e) for e in cards[issued_id]] == [
        ("Gift Card Issued", money(50), money(50), money(0)),
        ("Gift Card Deactivated", money(-50), money(0), money(0)),
    ]
    assert [summary(e) for e in cards[stock_id]] == [
        ("Gift Card Activated", money(100), money(100), money(0)),
        ("Gift Card Reserved", money(0), money(60), money(40)),
        ("Gift Card Captured", money(-30), money(60), money(10)),
        ("Gift Card Refunded", money(10), money(70), money(10)),
        ("Gift Card Released", money(0), money(80), money(0)),
        ("Gift Card Reserved", money(0), money(60), money(20)),
        ("Gift Card Deactivated", money(-60), money(0), money(20)),
        ("Gift Card Release Voided", money(-20), money(0), money(0)),
    ]
    instruments = [e["detail"]["instrument_id"] for e in cards[stock_id]]
    assert instruments == [None, first, first, first, first, second, None, second]

    # and each event is its ledger entry: same id, the kind, who and where
    for card, lookup in ((issued_id, flow["issued"]), (stock_id, flow["stock"])):
        ledger = world.api.ledger(lookup)
        assert [e["detail"]["event_id"] for e in cards[card]] == [e.entry_id for e in ledger]
        assert [e["detail"]["kind"] for e in cards[card]] == [e.kind for e in ledger]
    for event in received:
        detail = event["detail"]
        assert event["source"] == "giftcard"
        assert event["detail-type"] == events.DETAIL_TYPES[detail["kind"]]
        assert detail["actor"] == API_KEY_ID
        assert detail["reason"] is None
        assert detail["request_id"]
        assert event["time"] == detail["occurred_at"][:19] + "Z"
    assert cards[issued_id][0]["detail"]["store_id"] == STORE
    assert cards[stock_id][0]["detail"]["store_id"] == STORE

    # and every detail is what the published schema describes
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for event in received:
        validator.validate(json.loads(json.dumps(event["detail"], default=float)))

    # and no card number, PIN or customer data went out
    text = json.dumps(received, default=str)
    assert_no_secrets(text, where="published events")
    for value in CUSTOMER.values():
        assert value not in text


def test_nothing_is_published_twice_and_nothing_new_is_published_for_reads(world: World) -> None:
    # Given one issued card whose events went out
    card = world.api.issue(25)
    SECRETS.add_card(card["number"], card["pin"])
    assert len(world.poller.poll_once()) == 1
    # When only reads follow, and the publisher polls again
    assert world.api.balance(card).status == 200
    # Then no event is added
    assert world.poller.poll_once() == []
    assert [e["detail-type"] for e in world.received()] == ["Gift Card Issued"]


def test_redelivered_records_keep_their_event_ids(world: World) -> None:
    # Given entries written by the webhooks, read from the stream as Lambda gets them
    every_operation(world.api)
    batch = stream_batch(world.poller.enable_stream())
    from functions.event_publisher.handler import lambda_handler

    # When the publisher's Lambda gets the same batch twice (a retry, a redelivery)
    assert lambda_handler({"Records": batch}, LambdaContext()) == {"batchItemFailures": []}
    first = world.received()
    assert lambda_handler({"Records": batch}, LambdaContext()) == {"batchItemFailures": []}
    second = world.received()

    # Then the second delivery is the same events under the same event ids
    assert len(first) == 10
    assert [e["detail"] for e in second] == [e["detail"] for e in first]
    assert len({e["detail"]["event_id"] for e in first}) == 10


def stream_batch(stream_arn: str) -> list[dict[str, Any]]:
    """Every record of the table's stream so far, shaped as Lambda hands them to the publisher."""
    streams = streams_client()
    records: list[dict[str, Any]] = []
    description = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
    for shard in description["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    return [lambda_record(record, stream_arn) for record in records]


class FlakyEventBridge:
    """The real (moto) client, except that it refuses one event id ``times`` times."""

    def __init__(self, real: Any, refuse: str, times: int) -> None:
        self.real = real
        self.refuse = refuse
        self.left = times

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        refused = [json.loads(e["Detail"])["event_id"] == self.refuse for e in Entries]
        if not any(refused) or self.left == 0:
            return dict(self.real.put_events(Entries=Entries))
        self.left -= 1
        sent = [e for e, no in zip(Entries, refused, strict=True) if not no]
        answer = self.real.put_events(Entries=sent) if sent else {"Entries": []}
        results = iter(answer["Entries"])
        return {
            "FailedEntryCount": 1,
            "Entries": [
                {"ErrorCode": "InternalFailure", "ErrorMessage": "x"} if no else next(results)
                for no in refused
            ],
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def flaky_world(world: World, refuse_kind_at: int, times: int) -> tuple[list[str], EventsPoller]:
    """Run a short flow; a poller whose bus refuses the ``refuse_kind_at``-th entry ``times``."""
    import boto3

    card = world.api.issue(30)
    SECRETS.add_card(card["number"], card["pin"])
    reserved = world.api.reserve(card, 5)
    assert reserved.status == 200
    assert world.api.capture(reserved.body["identifier"], 5).status == 200
    ledger = [e.entry_id for e in world.api.ledger(card)]
    client = FlakyEventBridge(boto3.client("events"), ledger[refuse_kind_at], times)
    poller = EventsPoller(get_settings(), events=client, max_attempts=3)
    poller.enable_stream()
    return ledger, poller


def test_a_refused_event_is_retried_from_its_record_and_nothing_is_lost(world: World) -> None:
    # Given the bus refuses the reservation's event once
    ledger, poller = flaky_world(world, refuse_kind_at=1, times=1)
    # When the publisher polls: the issue goes out, the reservation is refused
    poller.poll_once()
    # and polls again: it starts again at the refused record
    poller.poll_once()
    # Then the consumer got every entry: the issue once; the capture, which went out in the
    # same PutEvents call as the refused reservation, again after it (at least once)
    issue, hold, capture = ledger
    received = [e["detail"]["event_id"] for e in world.received()]
    assert received == [issue, capture, hold, capture]
    assert poller.dead_lettered == []


def test_an_event_refused_every_time_is_given_up_and_the_rest_go_out(world: World) -> None:
    # Given the bus always refuses the reservation's event
    ledger, poller = flaky_world(world, refuse_kind_at=1, times=1_000)
    # When the publisher has tried as often as it may
    for _ in range(4):
        poller.poll_once()
    # Then that record is dead-lettered (the stack sends it to its dead-letter queue) and the
    # entries before and after it are published
    assert len(poller.dead_lettered) == 1
    received = {e["detail"]["event_id"] for e in world.received()}
    assert received == {ledger[0], ledger[2]}


def test_the_recent_list_is_what_was_published_oldest_first(world: World) -> None:
    # Given three cards issued and published
    for value in (10, 20, 30):
        card = world.api.issue(value)
        SECRETS.add_card(card["number"], card["pin"])
    world.poller.poll_once()
    # Then GET /admin/events/recent's list shows them as a consumer would, oldest first
    recent = world.poller.recent()["events"]
    assert [e["detail"]["amount"]["value"] for e in recent] == [10, 20, 30]
    assert all(set(e) == {"source", "detail-type", "time", "detail"} for e in recent)
    assert json.loads(world.poller.recent_json())["events"][0]["detail-type"] == "Gift Card Issued"
    assert [e["detail"] for e in world.received()] == [e["detail"] for e in recent]


def test_the_recent_list_keeps_only_the_last_ones() -> None:
    assert KEEP == 100  # back-office.md: "the last 100"
    with offline_aws(env={"EVENT_BUS_NAME": BUS}):
        api = make_api()
        poller = EventsPoller(get_settings(), keep=3)
        poller.enable_stream()
        for value in (1, 2, 3, 4, 5):
            card = api.issue(value)
            SECRETS.add_card(card["number"], card["pin"])
        poller.poll_once()
        values = [e["detail"]["amount"]["value"] for e in poller.recent()["events"]]
        assert values == [3, 4, 5]


def test_the_started_poller_publishes_in_the_background_until_stopped(world: World) -> None:
    import threading

    # Given the poller running as `make run` starts it
    world.poller.interval = 0.05
    world.poller.start()
    try:
        # When a card is issued
        card = world.api.issue(15)
        SECRETS.add_card(card["number"], card["pin"])
        # Then its event shows up without anyone polling by hand
        deadline = threading.Event()
        for _ in range(200):
            if world.poller.recent()["events"]:
                break
            deadline.wait(0.05)
        assert [e["detail-type"] for e in world.poller.recent()["events"]] == ["Gift Card Issued"]
    finally:
        world.poller.stop()
    assert not any(t.name == "events-poller" for t in threading.enumerate())
