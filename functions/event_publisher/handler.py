"""DynamoDB stream of the table (new images) -> the stack's event bus: one event per ledger entry.

The event source mapping reports partial batch failures (ReportBatchItemFailures): the answer
names the first record not published, and Lambda retries from there (``giftcard.publisher``).
"""

from __future__ import annotations

from typing import Any

from giftcard import publisher
from giftcard.observability import logger


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(job="event_publisher", request_id=getattr(context, "aws_request_id", ""))
    return publisher.handle(event)
