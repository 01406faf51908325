"""The audit over a table of 20,000 cards (the long suite, ``make test-long``): every card checked
once across segments and pages, liability equal to an independent sum, and the few corrupted
cards, and only they, reported."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from giftcard.audit_job import RecordingPublisher, run_audit
from giftcard.clock import FixedClock
from giftcard.repository import Repository
from tests.reliability.conftest import LONG
from tests.support.audit_table import synthetic_table, write
from tests.support.aws import TABLE, offline_aws

CARDS = 20_000
CORRUPTED = 7
START = 1_800_000_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not LONG, reason="the long suite: make test-long (GIFTCARD_LONG=1)"),
]


@pytest.fixture(scope="module")
def aws_offline() -> Iterator[None]:
    with offline_aws():
        yield


def test_twenty_thousand_cards(aws_offline: None) -> None:
    # Given 20,000 cards (7 of them tampered with) and their reservations
    table = synthetic_table(CARDS, START, corrupted=CORRUPTED, seed=20_000)
    write(boto3.client("dynamodb"), TABLE, table.items)
    # When the audit reads them in 4 segments
    finished = run_audit(
        Repository(TABLE),
        FixedClock(START),
        segments=4,
        publisher=RecordingPublisher(),
        sleep=lambda _seconds: None,
    )
    result = finished.result
    # Then every item is read once and every card checked once
    assert result.items == len(table.items)
    assert result.cards_checked == CARDS
    # and the tampered cards, and only they, are reported
    assert len(table.corrupted) == CORRUPTED
    assert {m.card_id for m in result.mismatches} == table.corrupted
    assert len(result.mismatches) == CORRUPTED
    # and liability equals the independent sum over the stored cards
    assert set(result.liability) == {"EUR", "JPY", "USD"}
    for currency, owed in result.liability.items():
        assert owed.cards == table.expected[(currency, "cards")]
        assert owed.outstanding == table.expected[(currency, "outstanding")]
    assert sum(sum(d.cards for d in buckets) for buckets in result.dormancy.values()) == CARDS
    # cards last used up to six years ago fall in every bucket
    assert all(d.cards > 0 for buckets in result.dormancy.values() for d in buckets)
