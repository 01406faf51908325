"""The audit's pure core (``giftcard.audit``): a card checked against its ledger, liability,
dormancy and expiring figures as of an injected start, and parts that combine in any grouping."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from giftcard import audit
from giftcard.audit import EMPTY, AsOf, Dormant, Owed, audit_segment, combine, finish
from giftcard.clock import Instant
from giftcard.items import card_id

#: 2027-01-15T08:00:00Z
START = Instant(1_800_000_000)
AS_OF = AsOf.at(START)
DAY = 86400


def at(seconds_before: float) -> str:
    """ISO 8601 to the microsecond, this long before the audit's start (negative: after)."""
    return START.plus(-seconds_before).iso_micro


def card(
    lookup: str,
    *,
    state: str = "active",
    currency: str | None = "USD",
    balance: int = 0,
    held: int = 0,
    since: float = 400 * DAY,
    **extra: Any,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": f"CARD#{lookup}",
        "SK": "CARD",
        "type": "card",
        "state": state,
        "last4": "1234",
        "balance": balance,
        "held": held,
        "created_at": START.plus(-since).iso,
    }
    if currency:
        item["currency"] = currency
    if state != "inactive":
        item["activated_at"] = START.plus(-since).iso
    item.update(extra)
    return item


def ledger(
    lookup: str, steps: list[tuple[float, str, int, int]], currency: str = "USD"
) -> list[dict[str, Any]]:
    """Chained entries: (seconds before the start, kind, balance after, held after) each."""
    items, state = [], (0, 0)
    for index, (before, kind, balance, held) in enumerate(steps):
        created = at(before)
        items.append(
            {
                "PK": f"CARD#{lookup}",
                "SK": f"ENTRY#{created}#e{index:03d}",
                "type": "entry",
                "kind": kind,
                "amount": (balance + held) - sum(state),
                "currency": currency,
                "balance_before": state[0],
                "balance_after": balance,
                "held_before": state[1],
                "held_after": held,
                "created_at": created,
            }
        )
        state = (balance, held)
    return items


def instrument(instrument_id: str, lookup: str, authorized: int, **counts: int) -> dict[str, Any]:
    return {
        "PK": f"INSTR#{instrument_id}",
        "SK": "INSTRUMENT",
        "type": "instrument",
        "card": lookup,
        "currency": "USD",
        "authorized": authorized,
        "captured": counts.get("captured", 0),
        "refunded": counts.get("refunded", 0),
        "released": counts.get("released", 0),
        "version": 1,
        "expires_at": 0,
    }


def run(*items: dict[str, Any]) -> audit.AuditResult:
    return finish(audit_segment(items, AS_OF), AS_OF)


def problems(result: audit.AuditResult) -> list[tuple[str, str]]:
    return [(m.card_id, m.problem) for m in result.mismatches]


# Reconciliation ----------------------------------------------------------------------------------


def spent_card(lookup: str = "a", **extra: Any) -> list[dict[str, Any]]:
    """Issued 50.00, 20.00 reserved, 5.00 of it captured, 15.00 still held."""
    return [
        card(lookup, balance=3000, held=1500, **extra),
        *ledger(
            lookup,
            [
                (90 * DAY, "issue", 5000, 0),
                (80 * DAY, "hold", 3000, 2000),
                (79 * DAY, "capture", 3000, 1500),
            ],
        ),
        instrument("i1", lookup, 2000, captured=500),
    ]


def test_a_card_that_matches_its_ledger_and_reservations_is_no_mismatch() -> None:
    result = run(*spent_card())
    assert result.mismatches == ()
    assert result.cards_checked == 1
    assert result.entries_checked == 3
    assert result.liability == {"USD": Owed(cards=1, spendable=3000, held=1500)}


def test_a_balance_edited_behind_the_services_back_is_reported_by_card_id() -> None:
    items = spent_card("tampered")
    items[0] = {**items[0], "balance": 9000}
    assert problems(run(*items)) == [
        (card_id("tampered"), "balance + held is 105.00 USD, the ledger sums to 45.00 USD")
    ]


def test_a_deleted_entry_breaks_the_chain() -> None:
    items = spent_card("gap")
    del items[2]  # the hold
    # (the hold moved no value, so the sum still matches: only the chain tells)
    assert problems(run(*items)) == [
        (card_id("gap"), f"ledger entries do not chain at {at(79 * DAY)}")
    ]


def test_a_deleted_last_entry_is_a_card_ahead_of_its_ledger() -> None:
    items = spent_card("ahead")
    del items[3]  # the capture
    assert problems(run(*items)) == [
        (card_id("ahead"), "balance + held is 45.00 USD, the ledger sums to 50.00 USD")
    ]


def test_held_and_spendable_swapped_at_the_same_total_is_reported() -> None:
    items = spent_card("split")
    items[0] = {**items[0], "balance": 1500, "held": 3000}
    found = problems(run(*items))
    assert (
        card_id("split"),
        "balance 15.00 USD and held 30.00 USD, the ledger ends at balance 30.00 USD and held"
        " 15.00 USD",
    ) in found
    # and the reservation no longer covers what the card says it holds
    assert (
        card_id("split"),
        "open reservations hold 15.00 USD, the card's held is 30.00 USD",
    ) in found


def test_an_entry_whose_amount_is_not_its_change_is_reported() -> None:
    items = spent_card("amount")
    items[1] = {**items[1], "amount": 4000}
    found = problems(run(*items))
    assert any("amount 40.00 USD is not its change of value 50.00 USD" in p for _c, p in found)


def test_reservations_that_do_not_sum_to_held_are_reported() -> None:
    items = spent_card("held")
    items[-1] = instrument("i1", "held", 2000, captured=900)  # 11.00 reserved, 15.00 held
    assert problems(run(*items)) == [
        (card_id("held"), "open reservations hold 11.00 USD, the card's held is 15.00 USD")
    ]


def test_a_reservation_without_held_money_is_reported() -> None:
    items = [*spent_card("x")[:2], instrument("orphan", "nobody", 700)]
    items[0] = {**items[0], "balance": 5000, "held": 0}
    assert problems(run(*items)) == [
        (card_id("nobody"), "open reservations hold 7.00 USD, the card's held is 0.00 USD")
    ]


def test_entries_with_the_same_timestamp_chain_in_any_stored_order() -> None:
    # Given entries written within one microsecond (stored by random entry id, not in order)
    lookup = "same-time"
    steps = [(DAY, "issue", 5000, 0), (DAY, "hold", 3000, 2000), (DAY, "release", 5000, 0)]
    steps += [(DAY, "hold", 4000, 1000), (DAY, "capture", 4000, 0)]
    entries = ledger(lookup, steps)
    entries.reverse()
    # Then their before/after values link them
    result = run(card(lookup, balance=4000), *entries)
    assert result.mismatches == ()


def test_operator_entries_move_no_money_and_are_counted() -> None:
    lookup = "frozen"
    items = spent_card(lookup, frozen={"reason": "reported stolen", "by": "arn", "at": at(DAY)})
    items.append(
        {
            "PK": f"CARD#{lookup}",
            "SK": f"ENTRY#{at(DAY)}#op",
            "type": "entry",
            "kind": "freeze",
            "amount": None,
            "balance_before": None,
            "balance_after": None,
            "held_before": None,
            "held_after": None,
            "created_at": at(DAY),
            "actor": "arn:aws:iam::123456789012:user/ana",
        }
    )
    result = run(*items)
    assert result.mismatches == ()
    assert result.entries_checked == 4
    # a frozen card is still owed
    assert result.liability["USD"] == Owed(1, 3000, 1500)


def test_a_garbled_item_is_reported_and_the_audit_goes_on() -> None:
    items = spent_card("garbled")
    items[1] = {**items[1], "created_at": "yesterday"}
    result = run(*items, *spent_card("fine"))
    assert problems(result) == [
        (card_id("garbled"), "unreadable card or ledger entry (ValueError)")
    ]
    assert result.cards_checked == 2


def test_ledger_entries_without_their_card_are_reported() -> None:
    result = run(*ledger("ghost", [(DAY, "issue", 100, 0)]))
    assert problems(result) == [(card_id("ghost"), "ledger entries without their card")]
    assert result.cards_checked == 0


# Liability, as of the start ----------------------------------------------------------------------


def test_liability_counts_active_cards_only_per_currency() -> None:
    items = [
        *spent_card("usd"),
        card("eur", currency="EUR", balance=1234),
        *ledger("eur", [(DAY, "activate", 1234, 0)], currency="EUR"),
        card("stock", state="inactive", currency=None),
        card("gone", state="deactivated", deactivated_at=START.plus(-DAY).iso),
        *ledger("gone", [(2 * DAY, "issue", 100, 0), (DAY, "deactivate_void", 0, 0)]),
    ]
    result = run(*items)
    assert result.mismatches == ()
    assert result.cards_checked == 4
    assert result.liability == {
        "EUR": Owed(1, 1234, 0),
        "USD": Owed(1, 3000, 1500),
    }
    assert list(result.liability) == ["EUR", "USD"]


def test_a_card_moved_after_the_start_counts_as_it_stood_at_the_start() -> None:
    # Given a card spent after the audit started (its ledger shows it; the card item too)
    lookup = "busy"
    items = [
        card(lookup, balance=1000),
        *ledger(
            lookup,
            [(10 * DAY, "issue", 5000, 0), (-60, "hold", 1000, 4000), (-61, "capture", 1000, 0)],
        ),
    ]
    result = run(*items)
    # Then it reconciles, and is owed as before the spending
    assert result.mismatches == ()
    assert result.liability == {"USD": Owed(1, 5000, 0)}
    # and a card issued or deactivated after the start is as it was then
    later = [
        card("new", balance=700, since=-30),
        *ledger("new", [(-30, "issue", 700, 0)]),
        card("closing", state="deactivated", deactivated_at=START.plus(60).iso),
        *ledger("closing", [(DAY, "issue", 300, 0), (-60, "deactivate_void", 0, 0)]),
    ]
    result = run(*items, *later)
    assert result.mismatches == ()
    assert result.liability == {"USD": Owed(2, 5300, 0)}


def test_a_card_read_before_a_racing_write_is_no_mismatch() -> None:
    # Given the scan read the card, then a transaction added an entry before it read the entries
    lookup = "raced"
    entries = ledger(lookup, [(DAY, "issue", 5000, 0), (-5, "hold", 3000, 2000)])
    stale = card(lookup, balance=5000)
    assert run(stale, *entries).mismatches == ()
    # But the same difference on a card whose ledger last moved long before the start is reported
    quiet = ledger(lookup, [(DAY, "issue", 5000, 0), (2 * 3600, "hold", 3000, 2000)])
    assert len(run(stale, *quiet).mismatches) == 1


# Dormancy and expiring, on an injected start ---------------------------------------------------


def test_dormancy_buckets_by_time_since_last_activity() -> None:
    year = 365 * DAY
    last_use = {
        "fresh": 30 * DAY,
        "almost-a-year": year - DAY,
        "a-year": 365 * DAY + 0.5 * DAY,
        "eighteen-months": 1.5 * year,
        "thirty-months": 2.5 * year,
        "four-years": 4 * year,
        "six-years": 6 * year,
    }
    items: list[dict[str, Any]] = []
    for index, (lookup, before) in enumerate(last_use.items()):
        items.append(card(lookup, balance=100 * (index + 1), since=before + DAY))
        items += ledger(
            lookup,
            [
                (before + DAY, "issue", 100 * (index + 1), 0),
                (before, "hold", 0, 100 * (index + 1)),
                (before, "release", 100 * (index + 1), 0),
                # an operator's correction later is not the holder's activity
                (DAY, "adjust", 100 * (index + 1), 0),
            ],
        )
    result = run(*items)
    assert result.mismatches == ()
    assert result.dormancy == {
        "USD": (
            Dormant(2, 100 + 200),
            Dormant(2, 300 + 400),
            Dormant(1, 500),
            Dormant(1, 600),
            Dormant(1, 700),
        )
    }
    # buckets add up to the liability
    assert sum(d.outstanding for d in result.dormancy["USD"]) == result.liability["USD"].outstanding


def test_a_card_without_activity_entries_dates_from_its_activation() -> None:
    result = run(card("stockish", since=3 * 365 * DAY + DAY, balance=0))
    assert result.dormancy["USD"][3] == Dormant(1, 0)


def test_expiring_within_30_and_90_days() -> None:
    def expiring(lookup: str, days: float) -> dict[str, Any]:
        return card(lookup, expires_at=START.plus(days * DAY).iso)

    result = run(
        expiring("past", -1),
        expiring("soon", 29.9),
        expiring("thirty", 30),
        expiring("later", 60),
        expiring("ninety", 90),
        expiring("far", 91),
        card("never"),
    )
    assert result.expiring == {"30d": 2, "90d": 4}


# Combining parts ---------------------------------------------------------------------------------


def test_a_card_split_over_pages_is_one_card() -> None:
    # The scan's pages are only cuts of one segment's item stream: the fold does not see them.
    items = spent_card()
    assert run(*items) == finish(audit_segment(iter(items), AS_OF), AS_OF)


def table_of(count: int) -> list[list[dict[str, Any]]]:
    """Partitions (a card with its entries, or an instrument), in a deterministic mix."""
    partitions: list[list[dict[str, Any]]] = []
    for index in range(count):
        lookup = f"card{index}"
        kind = index % 4
        if kind == 0:
            partitions.append(
                [
                    card(lookup, balance=100 + index),
                    *ledger(lookup, [(DAY * index, "issue", 100 + index, 0)]),
                ]
            )
        elif kind == 1:
            items = spent_card(lookup)
            partitions += [items[:-1], [items[-1]]]  # the reservation apart from its card
        elif kind == 2:
            items = spent_card(lookup)
            items[0] = {**items[0], "balance": 1}  # tampered
            partitions += [items[:-1], [items[-1]]]
        else:
            partitions.append([card(lookup, state="inactive", currency=None)])
    return partitions


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_combine_is_associative_and_any_grouping_gives_the_same_audit(data: st.DataObject) -> None:
    partitions = table_of(data.draw(st.integers(0, 12)))
    order = data.draw(st.permutations(range(len(partitions))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), min_size=2, max_size=2)))
    groups = [order[: cuts[0]], order[cuts[0] : cuts[1]], order[cuts[1] :]]
    a, b, c = (
        audit_segment([item for index in group for item in partitions[index]], AS_OF)
        for group in groups
    )
    assert combine(combine(a, b), c) == combine(a, combine(b, c))
    assert combine(EMPTY, a) == a == combine(a, EMPTY)
    whole = audit_segment([item for partition in partitions for item in partition], AS_OF)
    assert finish(combine(combine(a, b), c), AS_OF) == finish(whole, AS_OF)


def test_combined_parts_join_a_reservation_scanned_by_another_segment() -> None:
    items = spent_card("joined")
    card_part = audit_segment(items[:-1], AS_OF)
    reservation_part = audit_segment(items[-1:], AS_OF)
    # alone, the card's held money has no reservation behind it
    assert len(finish(card_part, AS_OF).mismatches) == 1
    assert finish(combine(reservation_part, card_part), AS_OF).mismatches == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-15T08:00:00Z", "2027-01-15T08:00:00.000000Z"),
        ("2027-01-15T08:00:00.123456Z", "2027-01-15T08:00:00.123456Z"),
        ("2027-01-15T09:00:00+01:00", "2027-01-15T08:00:00.000000Z"),
    ],
)
def test_timestamps_compare_across_precisions(text: str, expected: str) -> None:
    assert audit.moment(text) == expected
