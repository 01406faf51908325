"""The nightly audit on moto, after real flows through the domain functions: reconciliation,
liability, the kept audit and its reports, the published metrics, a corrupted card reported by
``card_id``, and a table that throttles the scan (every item still counted once)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from giftcard import metric_names, redemption, reports, service, settlement
from giftcard.audit_job import LambdaLauncher, RecordingPublisher, run_audit
from giftcard.clock import FixedClock
from giftcard.errors import AuditNotFound
from giftcard.http import Services
from giftcard.items import card_id, card_pk
from giftcard.jsonio import loads
from giftcard.models import (
    ActivateRequest,
    AuditLatestRequest,
    AuditRunRequest,
    DeactivateRequest,
    InstrumentCaptureRequest,
    InstrumentCreateRequest,
    InstrumentRefundRequest,
    InstrumentRevokeRequest,
    IssueRequest,
    ReportRequest,
)
from giftcard.operation import RequestContext
from giftcard.replies import Reply
from giftcard.repository import Repository
from giftcard.scan import ScanFailed
from giftcard.writes import ENTRY_PREFIX
from tests.support.aws import TABLE
from tests.support.calls import SECRETS, card_number, load_stock

DAY = 86400
#: Audits run this long after the flows, past the audit's race grace.
LATER = DAY


class Shop:
    """Requests through the domain functions, as the handlers make them."""

    def __init__(self, services: Services, clock: FixedClock) -> None:
        self.services = services
        self.clock = clock

    def context(self) -> RequestContext:
        self.clock.advance(1)
        return self.services.context(uuid.uuid4().hex, "key-1")

    def call(self, operation: Callable[[Any, RequestContext], Reply], model: Any, body: Any) -> Any:
        SECRETS.harvest(body)
        answer = operation(model.model_validate(body), self.context())
        assert answer.status == 200, answer.body
        parsed = loads(answer.body)
        SECRETS.harvest(parsed)
        return parsed

    def issue(self, value: str, currency: str = "USD") -> str:
        body = {"amount": {"value": Decimal(value), "currency": currency}, "customer": {"id": "c1"}}
        return str(self.call(service.issue, IssueRequest, body)["identifier"]["number"])

    def activate(self, number: str, value: str, currency: str = "USD") -> None:
        body = {"card_number": number, "amount": {"value": Decimal(value), "currency": currency}}
        self.call(service.activate, ActivateRequest, body)

    def reserve(
        self, number: str, value: str, currency: str = "USD", pin: str | None = None
    ) -> str:
        body = {
            "idempotency_key": uuid.uuid4().hex,
            "instrument": {"number": number, "pin": pin},
            "amount": Decimal(value),
            "currency": currency,
        }
        return str(self.call(redemption.reserve, InstrumentCreateRequest, body)["identifier"])

    def command(self, operation: Any, model: Any, instrument_id: str, value: str | None) -> None:
        body: dict[str, Any] = {"instrument_id": instrument_id, "idempotency_key": uuid.uuid4().hex}
        if value is not None:
            body |= {"amount": Decimal(value), "currency": "USD"}
        self.call(operation, model, body)

    def deactivate(self, number: str, pin: str | None = None) -> None:
        self.call(service.deactivate, DeactivateRequest, {"card_number": number, "pin": pin})


@pytest.fixture
def shop(services: Services, clock: FixedClock) -> Shop:
    return Shop(services, clock)


def history(shop: Shop) -> dict[str, str]:
    """Every kind of money movement on a handful of cards; returns label -> card number."""
    cards: dict[str, str] = {}
    # issued, then spent: reserve, capture part, refund part, revoke the rest
    body = {"amount": {"value": Decimal("80.00"), "currency": "USD"}, "customer": {"id": "c1"}}
    answer = shop.call(service.issue, IssueRequest, body)
    spent, spent_pin = answer["identifier"]["number"], answer["identifier"]["pin"]
    cards["spent"] = spent
    first = shop.reserve(spent, "30.00", pin=spent_pin)
    shop.command(settlement.capture, InstrumentCaptureRequest, first, "20.00")
    shop.command(settlement.refund, InstrumentRefundRequest, first, "5.00")
    shop.command(settlement.revoke, InstrumentRevokeRequest, first, None)
    # a reservation still open tonight
    open_reservation = shop.reserve(spent, "12.50", pin=spent_pin)
    shop.command(settlement.capture, InstrumentCaptureRequest, open_reservation, "2.50")
    # printed stock: one activated in euros, one left in stock
    stock = [card_number(910), card_number(911)]
    load_stock([(stock[0], None), (stock[1], None)])
    shop.activate(stock[0], "40", "EUR")
    cards["euro"], cards["stock"] = stock
    # issued and deactivated (not owed any more)
    body = {"amount": {"value": Decimal("15"), "currency": "USD"}, "customer": {"id": "c2"}}
    answer = shop.call(service.issue, IssueRequest, body)
    cards["closed"] = answer["identifier"]["number"]
    shop.deactivate(cards["closed"], answer["identifier"]["pin"])
    return cards


def lookup(services: Services, number: str) -> str:
    return services.context("x", "k").keys.card_lookup(number)


def audit_now(services: Services, clock: FixedClock, **options: Any) -> Any:
    clock.advance(LATER)
    publisher = options.pop("publisher", RecordingPublisher())
    finished = run_audit(
        services.repository,
        clock,
        segments=options.pop("segments", 3),
        publisher=publisher,
        sleep=lambda _seconds: None,
        **options,
    )
    return finished, publisher


def test_real_flows_reconcile_and_liability_equals_the_cards(shop: Shop, clock: FixedClock) -> None:
    # Given every kind of money movement through the domain functions
    cards = history(shop)
    services = shop.services
    # When the audit runs
    finished, publisher = audit_now(services, clock)
    result = finished.result
    # Then nothing is a mismatch and the figures equal the cards themselves
    assert result.mismatches == ()
    assert result.cards_checked == 4
    spent = services.repository.get_card(lookup(services, cards["spent"]))
    euro = services.repository.get_card(lookup(services, cards["euro"]))
    assert spent is not None and euro is not None
    assert (spent.balance, spent.held) == (8000 - 3000 + 500 + 1000 - 1250, 1000)
    usd, eur = result.liability["USD"], result.liability["EUR"]
    assert (usd.cards, usd.spendable, usd.held) == (1, spent.balance, spent.held)
    assert (eur.cards, eur.spendable, eur.held) == (1, 4000, 0)
    # and the answer shows money in major units
    liability = finished.answer.liability.model_dump()
    assert liability["currencies"][1] == {
        "currency": "USD",
        "cards": 1,
        "spendable": {"value": Decimal("52.50"), "currency": "USD"},
        "held": {"value": Decimal("10.00"), "currency": "USD"},
        "outstanding": {"value": Decimal("62.50"), "currency": "USD"},
    }
    # and the metrics: outstanding per currency, no mismatch, cards checked
    assert publisher.values(metric_names.AUDIT_MISMATCHES) == [0]
    assert publisher.values(metric_names.AUDIT_CARDS_CHECKED) == [4]
    assert sorted(publisher.values(metric_names.AUDIT_OUTSTANDING)) == [40.0, 62.5]


def corrupt(services: Services, cards: dict[str, str]) -> tuple[str, str]:
    """Edit one card's balance behind the service's back; delete an entry of another."""
    client = boto3.client("dynamodb")
    edited = lookup(services, cards["euro"])
    client.update_item(
        TableName=TABLE,
        Key={"PK": {"S": card_pk(edited)}, "SK": {"S": "CARD"}},
        UpdateExpression="SET balance = :b",
        ExpressionAttributeValues={":b": {"N": "99999"}},
    )
    gapped = lookup(services, cards["spent"])
    entries = client.query(
        TableName=TABLE,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :e)",
        ExpressionAttributeValues={":pk": {"S": card_pk(gapped)}, ":e": {"S": ENTRY_PREFIX}},
    )["Items"]
    middle = entries[len(entries) // 2]
    client.delete_item(TableName=TABLE, Key={"PK": middle["PK"], "SK": middle["SK"]})
    return card_id(edited), card_id(gapped)


def test_a_corrupted_card_is_reported_by_card_id_and_trips_the_alarm_metric(
    shop: Shop, clock: FixedClock
) -> None:
    # Given real flows, then a balance edited and an entry deleted behind the service's back
    cards = history(shop)
    edited, gapped = corrupt(shop.services, cards)
    # When the audit runs, publishing to CloudWatch (moto)
    finished, _ = audit_now(shop.services, clock, publisher=None)
    # Then both cards are reported by card_id, and only they
    reported = {m.card_id for m in finished.result.mismatches}
    assert reported == {edited, gapped}
    problems = [(m.card_id, m.problem) for m in finished.result.mismatches]
    assert (edited, "balance + held is 999.99 EUR, the ledger sums to 40.00 EUR") in problems
    # (the deleted entry is the refund of 5.00: the sum is off, and the chain broken there)
    assert (gapped, "balance + held is 62.50 USD, the ledger sums to 57.50 USD") in problems
    assert any(c == gapped and p.startswith("ledger entries do not chain at") for c, p in problems)
    # and the kept audit lists them (no card number anywhere in it)
    stored = shop.services.repository.latest_audit()
    assert stored is not None and stored.mismatches == len(finished.result.mismatches)
    assert edited in stored.body and gapped in stored.body
    assert all(number not in stored.body for number in cards.values())
    # and the alarm's metric says so
    cloudwatch = boto3.client("cloudwatch")
    data = cloudwatch.get_metric_statistics(
        Namespace="GiftCards",
        MetricName=metric_names.AUDIT_MISMATCHES,
        Dimensions=[{"Name": "service", "Value": "giftcard"}],
        StartTime=clock.now().plus(-2 * DAY).iso,
        EndTime=clock.now().plus(DAY).iso,
        Period=86400,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [point["Maximum"] for point in data] == [float(len(finished.result.mismatches))]
    assert len(problems) == 3


# The kept audit and the operator operations ---------------------------------------------------


def test_reports_before_any_audit_are_audit_not_found(services: Services) -> None:
    context = services.context("r", "k")
    for call in (
        lambda: reports.audit_latest(AuditLatestRequest(), context),
        lambda: reports.report_liability(ReportRequest(), context),
        lambda: reports.report_dormancy(ReportRequest(date="2027-01-15"), context),
    ):
        with pytest.raises(AuditNotFound) as raised:
            call()
        assert (raised.value.status, raised.value.error_code) == (404, "audit_not_found")


def test_audit_run_locally_finishes_and_reports_read_it_by_date(
    shop: Shop, clock: FixedClock
) -> None:
    history(shop)
    services = shop.services
    # When an operator runs the audit locally (no audit function): it runs within the request
    clock.advance(LATER)
    context = services.context("run-1", "k")
    context.actor = "arn:aws:iam::123456789012:user/finance"
    answer = loads(reports.audit_run(AuditRunRequest(), context).body)
    assert answer["status"] == "finished"
    first_day = clock.now().iso[:10]
    # and again two days later, after more spending
    clock.advance(2 * DAY)
    shop.issue("5.00")
    clock.advance(LATER)
    second = loads(reports.audit_run(AuditRunRequest(), services.context("run-2", "k")).body)
    # Then latest is the second; the liability of the first day is the first audit's
    latest = loads(reports.audit_latest(AuditLatestRequest(), services.context("l", "k")).body)
    assert latest["audit_id"] == second["audit_id"]
    assert set(latest) == {
        "audit_id",
        "as_of",
        "finished_at",
        "cards_checked",
        "entries_checked",
        "mismatches",
        "liability",
        "dormancy",
        "expiring",
    }
    assert latest["expiring"] == {"30d": 0, "90d": 0}
    then = loads(
        reports.report_liability(ReportRequest(date=first_day), services.context("q", "k")).body
    )
    assert then["audit_id"] == answer["audit_id"]
    usd = {c["currency"]: c for c in then["currencies"]}["USD"]
    assert usd["outstanding"] == {"value": Decimal("62.50"), "currency": "USD"}
    now = loads(reports.report_liability(ReportRequest(), services.context("q", "k")).body)
    usd_now = {c["currency"]: c for c in now["currencies"]}["USD"]
    assert usd_now["outstanding"]["value"] == Decimal("67.50")
    dormancy = loads(reports.report_dormancy(ReportRequest(), services.context("d", "k")).body)
    usd_buckets = {c["currency"]: c for c in dormancy["currencies"]}["USD"]["buckets"]
    assert [b["bucket"] for b in usd_buckets] == ["<1y", "1-2y", "2-3y", "3-5y", ">=5y"]
    assert usd_buckets[0]["cards"] == 2
    # and a day without an audit is audit_not_found
    with pytest.raises(AuditNotFound):
        reports.report_liability(ReportRequest(date="2026-01-01"), services.context("n", "k"))


def test_audit_run_deployed_starts_the_job_function(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[str, str]] = []
    monkeypatch.setattr(reports, "launcher_for", lambda _settings: lambda *a: started.append(a))
    context = services.context("run", "k")
    context.actor = "arn:aws:iam::123456789012:user/finance"
    answer = loads(reports.audit_run(AuditRunRequest(), context).body)
    assert answer["status"] == "started"
    assert started == [(answer["audit_id"], "arn:aws:iam::123456789012:user/finance")]
    assert services.repository.latest_audit() is None  # the job keeps it, not the request


def test_the_launcher_invokes_the_audit_function_asynchronously() -> None:
    calls: list[dict[str, Any]] = []

    class Lambda:
        def invoke(self, **kwargs: Any) -> None:
            calls.append(kwargs)

    LambdaLauncher("giftcard-audit", client=Lambda())("audit-1", "arn:x")
    assert calls == [
        {
            "FunctionName": "giftcard-audit",
            "InvocationType": "Event",
            "Payload": json.dumps({"audit_id": "audit-1", "requested_by": "arn:x"}).encode(),
        }
    ]


def test_launcher_follows_the_deployment(services: Services) -> None:
    assert reports.launcher_for(services.settings) is None
    deployed = services.settings.model_copy(update={"audit_function_name": "fn"})
    launcher = reports.launcher_for(deployed)
    assert isinstance(launcher, LambdaLauncher) and launcher.function_name == "fn"


# Throttling ---------------------------------------------------------------------------------------


class ThrottlingClient:
    """The real (moto) client, except that chosen Scan calls are throttled."""

    def __init__(self, client: Any, throttle: Callable[[int], bool]) -> None:
        self._client = client
        self._throttle = throttle
        self.scans: list[tuple[int, str, bool]] = []  # (segment, start key, throttled)
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def scan(self, **kwargs: Any) -> Any:
        start = json.dumps(kwargs.get("ExclusiveStartKey"), sort_keys=True)
        throttled = self._throttle(len(self.scans))
        self.scans.append((kwargs["Segment"], start, throttled))
        if throttled:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                "Scan",
            )
        return self._client.scan(**kwargs)


def test_a_throttled_scan_resumes_each_segment_and_counts_every_item_once(
    shop: Shop, clock: FixedClock
) -> None:
    history(shop)
    services = shop.services
    clock.advance(LATER)
    calm, _ = audit_now(services, clock, page_limit=2)
    # Given a table that throttles every third scan call
    client = ThrottlingClient(services.repository.client, lambda index: index % 3 == 1)
    throttled_repository = Repository(services.repository.table_name, client=client)
    # When the audit reads it in small pages
    finished = run_audit(
        throttled_repository,
        clock,
        segments=3,
        publisher=RecordingPublisher(),
        sleep=lambda _s: None,
        page_limit=2,
    )
    # Then every figure equals the unthrottled audit's
    assert finished.result.items == calm.result.items + 1  # + the first audit's own item
    assert finished.result.liability == calm.result.liability
    assert finished.result.cards_checked == calm.result.cards_checked == 4
    assert finished.result.entries_checked == calm.result.entries_checked
    assert finished.result.mismatches == ()
    # and each throttled page was asked again from the same key (resumed, not restarted)
    throttled = [(segment, start) for segment, start, hit in client.scans if hit]
    assert len(throttled) >= 3
    answered = [(segment, start) for segment, start, hit in client.scans if not hit]
    assert all(page in answered for page in throttled)
    assert len(answered) == len(set(answered))  # no page read twice


def test_a_scan_throttled_past_its_budget_keeps_nothing(shop: Shop, clock: FixedClock) -> None:
    history(shop)
    services = shop.services
    client = ThrottlingClient(services.repository.client, lambda index: index >= 2)
    with pytest.raises(ScanFailed):
        run_audit(
            Repository(services.repository.table_name, client=client),
            clock,
            segments=2,
            publisher=RecordingPublisher(),
            sleep=lambda _s: None,
            page_limit=1,
        )
    assert services.repository.latest_audit() is None


# The scheduled function ---------------------------------------------------------------------------


def test_the_scheduled_function_audits_and_keeps_the_result(shop: Shop, clock: FixedClock) -> None:
    from functions.audit.handler import lambda_handler

    history(shop)
    clock.advance(LATER)
    summary = lambda_handler({"audit_id": "audit-manual-1"}, None, shop.services)
    assert summary == {"audit_id": "audit-manual-1", "cards_checked": 4, "mismatches": 0}
    stored = shop.services.repository.latest_audit()
    assert stored is not None and stored.audit_id == "audit-manual-1"
