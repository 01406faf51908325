"""The event publisher: a batch of the table's stream records -> the stack's event bus.

One event per new ledger entry (``giftcard.events``), put with ``PutEvents`` ten at a time (the
call's limit), in stream order.

Failures follow Lambda's partial batch response for streams (``ReportBatchItemFailures``, AWS
Lambda Developer Guide, "Configuring partial batch response with DynamoDB and Lambda"): Lambda
checkpoints at the lowest sequence number the function reports and retries every record from
there on. So the publisher reports exactly one record, the first that was not published, and
publishes nothing after it: the records before it are done and never sent again, the failed one
and those after are retried (and, once the retries are spent, described in the dead-letter
queue). Records after a failure that were already in the same ``PutEvents`` call are published
and will be published again on the retry: delivery is at least once, the event id is the entry
id, and consumers dedupe by it. Within one invocation an entry is published at most once (a
stream may repeat a record).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from giftcard import events
from giftcard.observability import logger

#: ``PutEvents`` takes at most this many entries per call.
MAX_ENTRIES_PER_CALL = 10

Load = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass
class BatchOutcome:
    """What became of one batch of stream records."""

    published: list[events.Event] = field(default_factory=list)
    #: Records that are not events (cards, records, instruments; MODIFY, REMOVE).
    skipped: int = 0
    #: Records of an entry already published in this batch.
    repeated: int = 0
    #: Sequence number of the first record not published (it and all after it are retried).
    failed_at: str | None = None

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The partial batch response Lambda reads (an empty list: the whole batch is done)."""
        failures = [] if self.failed_at is None else [{"itemIdentifier": self.failed_at}]
        return {"batchItemFailures": failures}


def image_loader() -> Load:
    """Decodes a stream image (DynamoDB attribute values) into plain values."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()

    def load(image: Mapping[str, Any]) -> dict[str, Any]:
        return {name: deserializer.deserialize(value) for name, value in image.items()}

    return load


def sequence_number(record: Mapping[str, Any]) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber") or "")


def publish_batch(
    records: Sequence[Mapping[str, Any]],
    *,
    client: Any,
    bus_name: str,
    load: Load | None = None,
) -> BatchOutcome:
    """Publish the events of ``records`` (in stream order) on ``bus_name`` with ``client``
    (an EventBridge client); see the module docstring for what a failure means."""
    load = load or image_loader()
    outcome = BatchOutcome()
    pending: list[tuple[str, events.Event]] = []
    seen: set[str] = set()
    for record in records:
        number = sequence_number(record)
        try:
            event = events.event_of_record(record, load)
        except Exception as exc:
            # Never the record itself in the log: an unreadable item may hold anything.
            logger.error(
                "stream record is not a publishable event",
                sequence_number=number,
                error=type(exc).__name__,
            )
            outcome.failed_at = number
            break
        if event is None:
            outcome.skipped += 1
        elif event.event_id in seen:
            outcome.repeated += 1
        else:
            seen.add(event.event_id)
            pending.append((number, event))

    for chunk in _chunks(pending, MAX_ENTRIES_PER_CALL):
        failed = _put(client, bus_name, chunk, outcome)
        if failed is not None:
            # Earlier in the stream than any unreadable record (those stopped the loop above).
            outcome.failed_at = failed
            break
    return outcome


def _put(
    client: Any,
    bus_name: str,
    chunk: list[tuple[str, events.Event]],
    outcome: BatchOutcome,
) -> str | None:
    """Put one chunk; the sequence number of its first entry EventBridge did not take."""
    try:
        answer = client.put_events(Entries=[event.put_entry(bus_name) for _, event in chunk])
    except Exception as exc:  # throttled, unreachable, refused: the whole call failed
        logger.warning("PutEvents failed", error=type(exc).__name__, sequence_number=chunk[0][0])
        return chunk[0][0]
    first_failed: str | None = None
    for (number, event), result in zip(chunk, answer.get("Entries") or [], strict=False):
        if result.get("ErrorCode"):
            logger.warning(
                "event not published",
                event_id=event.event_id,
                card_id=event.detail.card_id,
                error_code=result["ErrorCode"],
                sequence_number=number,
            )
            first_failed = first_failed or number
            continue
        outcome.published.append(event)
        logger.info(
            "event published",
            event_id=event.event_id,
            card_id=event.detail.card_id,
            kind=event.detail.kind,
            detail_type=event.detail_type,
        )
    if first_failed is None and len(answer.get("Entries") or []) < len(chunk):
        # EventBridge answers one result per entry; fewer means we cannot tell: retry the rest.
        first_failed = chunk[len(answer.get("Entries") or [])][0]
    return first_failed


def _chunks(
    items: list[tuple[str, events.Event]], size: int
) -> Iterator[list[tuple[str, events.Event]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def handle(
    event: Mapping[str, Any], *, client: Any = None, bus_name: str | None = None
) -> dict[str, list[dict[str, str]]]:
    """The publisher Lambda's work on one DynamoDB stream event: its partial batch response.

    ``client`` defaults to the process's EventBridge client, ``bus_name`` to ``EVENT_BUS_NAME``.
    """
    from giftcard import aws
    from giftcard.settings import get_settings

    outcome = publish_batch(
        event.get("Records") or [],
        client=client or aws.client("events"),
        bus_name=bus_name or get_settings().event_bus_name,
    )
    logger.info(
        "stream batch done",
        published=len(outcome.published),
        skipped=outcome.skipped,
        repeated=outcome.repeated,
        failed_at=outcome.failed_at,
    )
    return outcome.response()
