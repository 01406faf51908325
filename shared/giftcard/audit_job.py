"""The audit job: scan, conclude, keep, publish.

``run_audit`` is what the nightly schedule (``functions/audit/handler.py``) and
``POST /admin/audit/run`` run: a parallel scan of the whole table (``giftcard.scan``), each
segment folded by the pure ``giftcard.audit``, the parts combined and concluded as of the job's
start (its injected clock), the result kept as one item per audit and published as CloudWatch
metrics (outstanding per currency, mismatches, cards checked: ``giftcard.metric_names``), which
the stack alarms on and graphs (``infra/audit.py``).

The two AWS calls besides DynamoDB (PutMetricData, and Lambda's asynchronous Invoke that starts
the job for ``audit/run``) are small adapters here, injected, so tests use fakes or moto.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from giftcard import audit, metric_names
from giftcard.clock import Clock, Instant
from giftcard.jsonio import dumps
from giftcard.models import (
    AuditMismatch,
    AuditResponse,
    DormancyBucket,
    DormancyCurrency,
    DormancyResponse,
    Expiring,
    LiabilityCurrency,
    LiabilityResponse,
    MoneyOut,
)
from giftcard.money import to_major
from giftcard.observability import NAMESPACE, SERVICE, STACK, logger
from giftcard.repository import Repository
from giftcard.scan import ParallelScan
from giftcard.writes import StoredAudit

#: At most this many mismatches are listed in the kept audit (one DynamoDB item holds at most
#: 400 KB); the count, the metric and the log carry the full number.
MAX_LISTED_MISMATCHES = 1000
#: Items per Scan page. DynamoDB would return up to 1 MB (about 4,000 cards' items); a smaller
#: page costs the same read units and a few more round trips, and keeps each page of the local
#: run (moto, about 1 ms an item) well inside the client's 5-second read timeout.
PAGE_ITEMS = 1000
#: PutMetricData takes at most 1,000 data points per call; audits send a handful.
_METRICS_PER_CALL = 500


class MetricsPublisher(Protocol):
    def publish(self, result: audit.AuditResult, at: Instant) -> None: ...


@dataclass(frozen=True)
class FinishedAudit:
    stored: StoredAudit
    result: audit.AuditResult
    answer: AuditResponse


def new_audit_id(now: Instant) -> str:
    """Sortable and unique: the start to the second and a random suffix."""
    stamp = datetime.fromtimestamp(now.seconds, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"audit-{stamp}-{uuid.uuid4().hex[:8]}"


def _money(minor: int, currency: str) -> MoneyOut:
    return MoneyOut(value=to_major(minor, currency), currency=currency)


def answer_of(
    result: audit.AuditResult, audit_id: str, finished_at: str, listed: int = MAX_LISTED_MISMATCHES
) -> AuditResponse:
    """The Audit answer (``docs/back-office``: Liability, Dormancy, Audit) of a result."""
    liability = LiabilityResponse(
        as_of=result.as_of,
        audit_id=audit_id,
        currencies=[
            LiabilityCurrency(
                currency=currency,
                cards=owed.cards,
                spendable=_money(owed.spendable, currency),
                held=_money(owed.held, currency),
                outstanding=_money(owed.outstanding, currency),
            )
            for currency, owed in result.liability.items()
        ],
    )
    dormancy = DormancyResponse(
        as_of=result.as_of,
        audit_id=audit_id,
        currencies=[
            DormancyCurrency(
                currency=currency,
                buckets=[
                    DormancyBucket(
                        bucket=bucket,  # type: ignore[arg-type]
                        cards=dormant.cards,
                        outstanding=_money(dormant.outstanding, currency),
                    )
                    for bucket, dormant in zip(audit.DORMANCY_BUCKETS, buckets, strict=True)
                ],
            )
            for currency, buckets in result.dormancy.items()
        ],
    )
    return AuditResponse(
        audit_id=audit_id,
        as_of=result.as_of,
        finished_at=finished_at,
        cards_checked=result.cards_checked,
        entries_checked=result.entries_checked,
        mismatches=[
            AuditMismatch(card_id=m.card_id, problem=m.problem) for m in result.mismatches[:listed]
        ],
        liability=liability,
        dormancy=dormancy,
        expiring=Expiring.model_validate(dict(result.expiring)),
    )


def run_audit(
    repository: Repository,
    clock: Clock,
    *,
    segments: int = 4,
    audit_id: str | None = None,
    publisher: MetricsPublisher | None = None,
    sleep: Callable[[float], None] = time.sleep,
    requested_by: str = "",
    page_limit: int | None = PAGE_ITEMS,
) -> FinishedAudit:
    """Audit the whole table as of now (``clock``): keep the result, publish its metrics.

    Raises ``giftcard.scan.ScanFailed`` when the table stays throttled past the retry budget:
    then nothing is kept or published (a partial audit would under-report what is owed).
    """
    started = clock.now()
    as_of = audit.AsOf.at(started)
    audit_id = audit_id or new_audit_id(started)
    logger.info("audit started", audit_id=audit_id, segments=segments, requested_by=requested_by)
    scan = ParallelScan(repository, segments, sleep=sleep, page_limit=page_limit)
    parts = scan.map(lambda items: audit.audit_segment(items, as_of))
    result = audit.finish(audit.combine_all(parts), as_of)
    finished_at = clock.now().iso
    answer = answer_of(result, audit_id, finished_at)
    stored = StoredAudit(
        audit_id=audit_id,
        as_of=result.as_of,
        finished_at=finished_at,
        cards_checked=result.cards_checked,
        mismatches=len(result.mismatches),
        body=dumps(answer.model_dump()),
    )
    repository.put_audit(stored)
    (publisher or CloudWatchPublisher()).publish(result, started)
    log = logger.error if result.mismatches else logger.info
    log(
        "audit finished",
        audit_id=audit_id,
        as_of=result.as_of,
        items=result.items,
        cards_checked=result.cards_checked,
        entries_checked=result.entries_checked,
        mismatches=len(result.mismatches),
        # card ids only (opaque): never a number
        mismatched_cards=sorted({m.card_id for m in result.mismatches})[:20],
        pages=scan.pages,
        throttled_retries=scan.retries,
        currencies=list(result.liability),
    )
    return FinishedAudit(stored, result, answer)


# Adapters ----------------------------------------------------------------------------------------


def metric_data(result: audit.AuditResult, at: Instant) -> list[dict[str, Any]]:
    """The audit's data points: outstanding per currency (major units), mismatches, cards."""
    timestamp = datetime.fromtimestamp(at.epoch, UTC)
    # The stack dimension (when deployed) keeps dev's and prod's audits apart in one account.
    service = [{"Name": "service", "Value": SERVICE}]
    if STACK:
        service.append({"Name": "stack", "Value": STACK})
    points: list[dict[str, Any]] = [
        {
            "MetricName": metric_names.AUDIT_MISMATCHES,
            "Dimensions": service,
            "Timestamp": timestamp,
            "Value": len(result.mismatches),
            "Unit": "Count",
        },
        {
            "MetricName": metric_names.AUDIT_CARDS_CHECKED,
            "Dimensions": service,
            "Timestamp": timestamp,
            "Value": result.cards_checked,
            "Unit": "Count",
        },
    ]
    for currency, owed in result.liability.items():
        points.append(
            {
                "MetricName": metric_names.AUDIT_OUTSTANDING,
                "Dimensions": [*service, {"Name": "currency", "Value": currency}],
                "Timestamp": timestamp,
                # CloudWatch stores doubles: this is for graphs, the kept audit is the record.
                # Exact to the cent up to 2**53 minor units.
                "Value": float(to_major(owed.outstanding, currency)),
                "Unit": "None",
            }
        )
    return points


class CloudWatchPublisher:
    """PutMetricData in the service's namespace, timestamped with the audit's start."""

    def __init__(self, client: Any = None, namespace: str = NAMESPACE) -> None:
        self._client = client
        self.namespace = namespace

    def publish(self, result: audit.AuditResult, at: Instant) -> None:
        if self._client is None:
            from giftcard.aws import client

            self._client = client("cloudwatch")
        points = metric_data(result, at)
        for start in range(0, len(points), _METRICS_PER_CALL):
            self._client.put_metric_data(
                Namespace=self.namespace, MetricData=points[start : start + _METRICS_PER_CALL]
            )


class RecordingPublisher:
    """Keeps what would be published (tests, and runs with nowhere to publish)."""

    def __init__(self) -> None:
        self.published: list[list[dict[str, Any]]] = []

    def publish(self, result: audit.AuditResult, at: Instant) -> None:
        self.published.append(metric_data(result, at))

    def values(self, name: str) -> Sequence[float]:
        return [p["Value"] for points in self.published for p in points if p["MetricName"] == name]


class LambdaLauncher:
    """Starts the audit job's function asynchronously (``InvocationType=Event``)."""

    def __init__(self, function_name: str, client: Any = None) -> None:
        self.function_name = function_name
        self._client = client

    def __call__(self, audit_id: str, requested_by: str) -> None:
        if self._client is None:
            from giftcard.aws import client

            self._client = client("lambda")
        self._client.invoke(
            FunctionName=self.function_name,
            InvocationType="Event",
            Payload=json.dumps({"audit_id": audit_id, "requested_by": requested_by}).encode(),
        )
