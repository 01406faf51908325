"""Operator operations on the audit: run one, read the latest, and finance's two reports.

Each takes a validated request model and a ``RequestContext`` and returns the ``Reply`` (like
``giftcard.service``); the routes are ``POST /admin/audit/run``, ``GET /admin/audit/latest``,
``GET /admin/reports/liability`` and ``GET /admin/reports/dormancy`` (``?date=YYYY-MM-DD``, the
latest audit that started on that UTC day; without it, the latest audit). Before any audit has
finished (or with none on the date), the answer is ``404 audit_not_found``.
"""

from __future__ import annotations

from collections.abc import Callable

from giftcard.audit_job import LambdaLauncher, new_audit_id, run_audit
from giftcard.errors import AuditNotFound
from giftcard.jsonio import loads
from giftcard.models import (
    AuditLatestRequest,
    AuditResponse,
    AuditRunRequest,
    AuditRunResponse,
    ReportRequest,
)
from giftcard.observability import logger
from giftcard.operation import RequestContext
from giftcard.replies import Reply, reply
from giftcard.settings import Settings

#: Starts the audit job elsewhere: (audit id, who asked).
Launcher = Callable[[str, str], None]


def launcher_for(settings: Settings) -> Launcher | None:
    """The audit job's function when the deployment has one; None: run within the request."""
    if settings.audit_function_name:
        return LambdaLauncher(settings.audit_function_name)
    return None


def audit_run(request: AuditRunRequest, context: RequestContext) -> Reply:
    """Start an audit now. Deployed, the job runs in its own function (up to 15 minutes; an API
    request has 29 s) and the answer is ``started``; locally it runs within the request and the
    answer is ``finished``. Either way ``audit_id`` names the audit it becomes."""
    audit_id = new_audit_id(context.now())
    launch = launcher_for(context.settings)
    if launch is not None:
        launch(audit_id, context.actor)
        logger.info("audit requested", audit_id=audit_id, actor=context.actor or None)
        return reply(200, AuditRunResponse(audit_id=audit_id, status="started"))
    run_audit(
        context.repository,
        context.clock,
        segments=context.settings.audit_segments,
        audit_id=audit_id,
        sleep=context.sleep,
        requested_by=context.actor,
    )
    return reply(200, AuditRunResponse(audit_id=audit_id, status="finished"))


def _audit(context: RequestContext, day: str | None) -> AuditResponse:
    stored = context.repository.latest_audit(day)
    if stored is None:
        raise AuditNotFound()
    return AuditResponse.model_validate(loads(stored.body))


def audit_latest(request: AuditLatestRequest, context: RequestContext) -> Reply:
    return reply(200, _audit(context, None))


def report_liability(request: ReportRequest, context: RequestContext) -> Reply:
    return reply(200, _audit(context, request.date).liability)


def report_dormancy(request: ReportRequest, context: RequestContext) -> Reply:
    return reply(200, _audit(context, request.date).dormancy)
