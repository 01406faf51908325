"""Events out in the local run: moto's stream of the table -> the publisher -> moto's event bus.

The stack runs ``functions/event_publisher`` on the table's DynamoDB stream; the local run polls
the same stream in moto (turned on here, as ``giftcard.table.stream_specification`` says) and
hands each batch, shaped as Lambda hands it, to the same ``giftcard.publisher.publish_batch``.
The publisher logs one line per event (event id, card id, kind, detail-type: never a number, PIN
or customer data). The last ``keep`` events are kept in memory for ``GET /admin/events/recent``.

Like Lambda's event source mapping, a batch that reports a failed record is read again from
that record; after ``max_attempts`` tries the record is given up on (logged, like the stack's
dead-letter queue) and polling moves past it.

Wiring (``make run``)::

    poller = events.start(settings)          # after provision(): the table must exist
    ...  GET /admin/events/recent  ->  jsonio.dumps(poller.recent())
    poller.stop()
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from giftcard import publisher, table
from giftcard.events import Event
from giftcard.jsonio import dumps
from giftcard.settings import Settings, get_settings
from tools.local_api.gateway import log_line

#: What ``GET /admin/events/recent`` lists (back-office.md: "the last 100").
KEEP = 100
#: Stream records read per batch (the stack's event source mapping uses the same).
BATCH_SIZE = 100


def streams_client() -> Any:
    """A DynamoDB Streams client for wherever boto3 points (moto).

    botocore sends a stream ARN's calls to an account endpoint (``<account>.streams-ddb...``)
    unless told not to; moto only answers the regional one.
    """
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda hands it to a function (epoch seconds, the source ARN)."""
    shaped = dict(record)
    dynamodb = dict(record.get("dynamodb") or {})
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    shaped["dynamodb"] = dynamodb
    shaped["eventSourceARN"] = stream_arn
    return shaped


class EventsPoller:
    """Polls the table's stream and publishes its ledger entries as events, in a thread."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        interval: float = 1.0,
        keep: int = KEEP,
        max_attempts: int = 3,
        dynamodb: Any = None,
        streams: Any = None,
        events: Any = None,
    ) -> None:
        from giftcard import aws

        self.settings = settings or get_settings()
        self.interval = interval
        self.max_attempts = max_attempts
        self._dynamodb = dynamodb or aws.client("dynamodb")
        self._streams = streams or streams_client()
        self._events = events or aws.client("events")
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stream_arn = ""
        #: shard id -> the iterator to read from next
        self._iterators: dict[str, str] = {}
        #: sequence number -> failed attempts so far
        self._attempts: dict[str, int] = {}
        #: Sequence numbers given up on (what the stack's dead-letter queue would describe).
        self.dead_lettered: list[str] = []

    # Setup ---------------------------------------------------------------------------------

    def enable_stream(self) -> str:
        """Turn the table's stream on (if it is not) and make sure the bus exists; the ARN."""
        described = self._dynamodb.describe_table(TableName=self.settings.table_name)["Table"]
        if not (described.get("StreamSpecification") or {}).get("StreamEnabled"):
            described = self._dynamodb.update_table(
                TableName=self.settings.table_name,
                StreamSpecification=table.stream_specification(),
            )["TableDescription"]
        self.stream_arn = str(described["LatestStreamArn"])
        bus = self.settings.event_bus_name
        if bus != "default":
            names = {b["Name"] for b in self._events.list_event_buses().get("EventBuses", [])}
            if bus not in names:
                self._events.create_event_bus(Name=bus)
        return self.stream_arn

    # Polling -------------------------------------------------------------------------------

    def poll_once(self) -> list[Event]:
        """Read what is new on every shard and publish it; the events published."""
        if not self.stream_arn:
            self.enable_stream()
        published: list[Event] = []
        shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in shards.get("Shards", []):
            published += self._poll_shard(shard["ShardId"])
        return published

    def _poll_shard(self, shard_id: str) -> list[Event]:
        iterator = self._iterators.get(shard_id) or self._iterator(shard_id, "TRIM_HORIZON", None)
        answer = self._streams.get_records(ShardIterator=iterator, Limit=BATCH_SIZE)
        # Kept between polls: a fresh iterator per poll would pile up in moto's memory.
        self._iterators[shard_id] = answer.get("NextShardIterator") or iterator
        records = answer.get("Records") or []
        if not records:
            return []
        batch = [lambda_record(record, self.stream_arn) for record in records]
        outcome = publisher.publish_batch(
            batch, client=self._events, bus_name=self.settings.event_bus_name
        )
        with self._lock:
            self._recent.extend(event.as_delivered() for event in outcome.published)
        failed = outcome.failed_at
        if failed is not None:
            attempts = self._attempts.get(failed, 0) + 1
            if attempts < self.max_attempts:
                # As Lambda does: the next batch starts at the first record not published.
                self._attempts[failed] = attempts
                self._iterators[shard_id] = self._iterator(shard_id, "AT_SEQUENCE_NUMBER", failed)
            else:
                self._attempts.pop(failed, None)
                self.dead_lettered.append(failed)
                log_line("ERROR", "event not published, given up", sequence_number=failed)
                self._iterators[shard_id] = self._iterator(
                    shard_id, "AFTER_SEQUENCE_NUMBER", failed
                )
        return outcome.published

    def _iterator(self, shard_id: str, kind: str, number: str | None) -> str:
        request: dict[str, Any] = {
            "StreamArn": self.stream_arn,
            "ShardId": shard_id,
            "ShardIteratorType": kind,
        }
        if number is not None:
            request["SequenceNumber"] = number
        return str(self._streams.get_shard_iterator(**request)["ShardIterator"])

    # Thread --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self.enable_stream()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="events-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll_once()
            except Exception as exc:  # keep polling; the next round reads the same records
                log_line("ERROR", "event poll failed", error=type(exc).__name__)

    # GET /admin/events/recent ------------------------------------------------------------

    def recent(self) -> dict[str, list[dict[str, Any]]]:
        """``{"events": [{"source", "detail-type", "time", "detail"}]}``, oldest first (money
        values are ``Decimal``: write with ``giftcard.jsonio.dumps`` or use ``recent_json``)."""
        with self._lock:
            return {"events": list(self._recent)}

    def recent_json(self) -> str:
        return dumps(self.recent())


def start(settings: Settings | None = None, *, interval: float = 1.0) -> EventsPoller:
    """A started poller for the local run's table (call after the table is provisioned)."""
    poller = EventsPoller(settings, interval=interval)
    poller.start()
    return poller


def stop(poller: EventsPoller) -> None:
    poller.stop()
