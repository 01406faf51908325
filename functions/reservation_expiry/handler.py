"""EventBridge schedule (not a webhook): release reservations whose expiry has passed."""

from __future__ import annotations

import uuid
from typing import Any

from giftcard import http, settlement
from giftcard.observability import logger, metrics


class ReservationExpiryIncomplete(Exception):
    """Some expired reservations could not be released: the invocation fails (the Errors alarm
    sees it; EventBridge's retry and the next run are harmless re-runs)."""


@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: Any, services: http.Services | None = None
) -> dict[str, int]:
    request_id = str(
        getattr(context, "aws_request_id", None) or (event or {}).get("id") or uuid.uuid4().hex
    )
    logger.append_keys(job="reservation_expiry", request_id=request_id)
    call = (services or http.services()).context(request_id, "scheduler")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    summary = settlement.expire_reservations(
        call, time_left=(lambda: remaining() / 1000) if callable(remaining) else None
    )
    if summary["failed"]:
        raise ReservationExpiryIncomplete(f"{summary['failed']} reservation(s) not released")
    return summary
