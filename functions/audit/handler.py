"""EventBridge schedule and ``POST /admin/audit/run`` (asynchronous invoke): audit the table.

Thin: the job is ``giftcard.audit_job.run_audit``. The event may name the audit
(``{"audit_id", "requested_by"}`` from ``audit/run``); the schedule's event does not, and gets a
new id. A failure (the table throttled past the retry budget, a timeout) fails the invocation:
the function's Errors alarm sees it, and nothing partial is kept.
"""

from __future__ import annotations

import uuid
from typing import Any

from giftcard import audit_job, http
from giftcard.observability import logger


def lambda_handler(
    event: dict[str, Any], context: Any, services: http.Services | None = None
) -> dict[str, Any]:
    event = event if isinstance(event, dict) else {}
    request_id = str(getattr(context, "aws_request_id", None) or event.get("id") or uuid.uuid4())
    logger.append_keys(job="audit", request_id=request_id)
    current = services or http.Services.from_environment()
    audit_id = event.get("audit_id")
    finished = audit_job.run_audit(
        current.repository,
        current.clock,
        segments=current.settings.audit_segments,
        audit_id=str(audit_id) if audit_id else None,
        requested_by=str(event.get("requested_by") or "schedule"),
    )
    return {
        "audit_id": finished.stored.audit_id,
        "cards_checked": finished.result.cards_checked,
        "mismatches": len(finished.result.mismatches),
    }
