"""The performance budget's deterministic part (issue 7): DynamoDB round trips per request.

The flow is ``tests/support/flows.py`` (``make bench`` runs the same one): the real handlers on
moto, a realistic day of a card (issue with a full customer, balances, a wrong PIN, a printed
card activated, a card deactivated, every mutation replayed, and a payment reserved, captured,
refunded and revoked).
Timing figures are the benchmark's business (``make bench``), never asserted here.
"""

from __future__ import annotations

import pytest

from tests.support import flows
from tests.support.aws import offline_aws

#: One round trip per success path and per replay. A PIN guess is charged (one conditional
#: UpdateItem that also reads the card) before it is compared, so a wrong PIN and an unknown
#: number are one call, a right PIN two (the charge and the reset), the window's last guess three
#: (the optimistic charge is refused, the charge that carries the lock, and, the PIN being wrong,
#: the lock's confirmation, so that other requests stop waiting for it to lift). Deactivate,
#: reserve, capture, refund and revoke read the balance they change before their transaction
#: (the ledger entry records the balance before and after); with a PIN, the charge comes between
#: (its reset rides in the transaction). Capture, refund and revoke read the card together with
#: the instrument, whose id carries the card's key.
EXPECTED = {
    "issue": 1,
    "issue_replay": 1,
    "balance": 2,
    "balance_wrong_pin": 1,
    "balance_pin_reset": 2,
    "balance_unknown_number": 1,
    "balance_locking_guess": 3,
    "balance_locked": 1,
    "activate": 1,
    "activate_replay": 1,
    "deactivate": 2,
    "deactivate_replay": 1,
}
REDEMPTION = {
    "instrument_create": 3,
    "instrument_create_replay": 1,
    "instrument_capture": 2,
    "instrument_capture_replay": 1,
    "instrument_refund": 2,
    "instrument_refund_replay": 1,
    "instrument_revoke": 2,
    "instrument_revoke_replay": 1,
    "deactivate_with_pin": 3,
}


@pytest.fixture(scope="module")
def flow() -> tuple[dict[str, int], dict[str, int]]:
    """Round trips per request and the largest stored item per kind, from one flow."""
    with offline_aws():
        counts, _operations = flows.round_trips()
        sizes = flows.stored_item_sizes()
    return counts, sizes


def test_each_request_makes_exactly_its_budgeted_dynamodb_round_trips(
    flow: tuple[dict[str, int], dict[str, int]],
) -> None:
    # Given the service on moto, when the day's requests run through the real handlers
    counts, _ = flow
    # Then each one made exactly the budgeted number of DynamoDB calls (and every step answered
    # as it must: the flow checks status and error code of each)
    # (redemption is always there: a flow that skipped it would fail here, not pass)
    assert all(flows.available(name) for name in flows.REDEMPTION)
    expected = {**EXPECTED, **REDEMPTION}
    assert counts == expected


def test_every_replay_is_a_single_round_trip(flow: tuple[dict[str, int], dict[str, int]]) -> None:
    counts, _ = flow
    replays = {label: n for label, n in counts.items() if label.endswith("_replay")}
    assert replays and all(n == 1 for n in replays.values()), replays


def test_stored_items_stay_under_one_kilobyte(flow: tuple[dict[str, int], dict[str, int]]) -> None:
    # Under 1 KB every write is one write unit (two inside a transaction)
    _, sizes = flow
    assert {"card", "entry", "record"} <= set(sizes)
    assert all(size < 1024 for size in sizes.values()), sizes


def test_the_usual_alternative_costs_three_calls_per_request() -> None:
    # The comparison docs/performance.md makes: Powertools' idempotency utility around one business
    # write is three calls (in-progress record, the write, completed record), not one.
    with offline_aws():
        counts = flows.powertools_round_trips()
    assert counts["powertools_idempotent"] == 3
