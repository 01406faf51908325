"""Printed stock import (giftcard.stock): validates the whole file, creates inactive cards,
re-runs leave existing cards alone, dry runs write nothing, rejections name line and reason."""

from __future__ import annotations

from typing import Any

import pytest

from giftcard.cards import CardState
from giftcard.clock import FixedClock
from giftcard.keys import KeyMaterial
from giftcard.stock import ImportReport, Rejected, StockFileError, import_stock
from tests.support.aws import MASTER
from tests.support.calls import card_number, with_bad_check_digit

KEYS = KeyMaterial.from_master(MASTER)
CLOCK = FixedClock(1_800_000_000)


def run(repository: Any, lines: list[str], **options: Any) -> ImportReport:
    return import_stock(lines, repository, KEYS, clock=CLOCK, workers=2, **options)


def stored(repository: Any, number: str) -> Any:
    return repository.get_card(KEYS.card_lookup(number))


def items(repository: Any) -> list[dict[str, Any]]:
    return list(repository.scan_all())


def test_valid_rows_become_inactive_cards(repository: Any) -> None:
    lines = [
        "number,pin",
        f"{card_number(1)},4125",
        f"{card_number(2)},",
        f"{card_number(3)},987654",
    ]
    report = run(repository, lines)
    assert (report.rows, report.created, report.existing, report.rejected) == (3, 3, 0, [])
    assert report.ok
    first, second = stored(repository, card_number(1)), stored(repository, card_number(2))
    assert first.state is CardState.INACTIVE
    assert (first.balance, first.currency, first.source) == (0, None, "stock")
    assert first.last4 == card_number(1)[-4:]
    assert KEYS.pin_matches(first.pin_hash, first.lookup, "4125")
    assert second.pin_hash is None
    assert first.created_at == "2027-01-15T08:00:00Z"
    # No ledger entry: stock holds no money until activated
    assert {item["type"] for item in items(repository)} == {"card"}


def test_rerun_counts_existing_cards_and_leaves_them_untouched(repository: Any) -> None:
    run(repository, ["number,pin", f"{card_number(1)},1111"])
    before = items(repository)
    report = run(repository, ["number,pin", f"{card_number(1)},2222", f"{card_number(2)},"])
    assert (report.created, report.existing) == (1, 1)
    card = stored(repository, card_number(1))
    assert KEYS.pin_matches(card.pin_hash, card.lookup, "1111")
    assert before[0] in items(repository)


def test_existing_cards_spread_over_batches_are_counted_and_left_untouched(
    repository: Any,
) -> None:
    # Cards are written 100 per transaction: an existing card cancels its batch, the batch's
    # other cards are written again without it.
    existing = [card_number(1000 + i) for i in (0, 99, 100, 249)]
    run(repository, ["number,pin"] + [f"{number},1111" for number in existing])
    report = run(repository, ["number,pin"] + [f"{card_number(1000 + i)},2222" for i in range(250)])
    assert (report.created, report.existing) == (246, 4)
    assert len([item for item in items(repository) if item.get("type") == "card"]) == 250
    for number in existing:
        card = stored(repository, number)
        assert KEYS.pin_matches(card.pin_hash, card.lookup, "1111")


def test_dry_run_writes_nothing_but_counts(repository: Any) -> None:
    run(repository, ["number,pin", f"{card_number(1)},1111"])
    lines = ["number,pin", f"{card_number(1)},1111", f"{card_number(2)},", f"{card_number(3)},"]
    report = run(repository, lines, dry_run=True)
    assert report.dry_run
    assert (report.rows, report.created, report.existing) == (3, 2, 1)
    assert len(items(repository)) == 1


def test_rejected_rows_are_named_by_line_and_nothing_is_written(repository: Any) -> None:
    good = card_number(10)
    lines = [
        "number,pin",
        f"{good},1234",  # line 2: fine
        f"{with_bad_check_digit(card_number(11))},1234",  # 3
        "12345678901,",  # 4: 11 digits
        "777700000000000000001,",  # 5: 21 digits
        f"{card_number(12)},12",  # 6: PIN too short
        f"{card_number(13)},12a4",  # 7
        f"{good},",  # 8: repeats line 2
        f"{card_number(14)},1234,extra",  # 9
        f"{card_number(15)}",  # 10: one column
        "",  # 11: blank lines are skipped
        f"{card_number(16)},1234567890123",  # 12: PIN too long
    ]
    report = run(repository, lines)
    assert not report.ok
    assert [rejected.line for rejected in report.rejected] == [3, 4, 5, 6, 7, 8, 9, 10, 12]
    reasons = {rejected.line: rejected.reason for rejected in report.rejected}
    assert "Luhn" in reasons[3]
    assert "12 to 19 digits" in reasons[4] and "12 to 19 digits" in reasons[5]
    assert "pin" in reasons[6] and "pin" in reasons[7] and "pin" in reasons[12]
    assert "line 2" in reasons[8]
    assert "columns" in reasons[9] and "columns" in reasons[10]
    # A file with rejections writes nothing, and no reason repeats a number or PIN
    assert report.created == 0
    assert items(repository) == []
    values = {cell for line in lines[1:] for cell in line.split(",") if len(cell) >= 4}
    for rejected in report.rejected:
        assert isinstance(rejected, Rejected)
        assert not any(value in rejected.reason for value in values), rejected.line


def test_numbers_with_spaces_and_dashes_are_normalized(repository: Any) -> None:
    number = card_number(20)
    typed = f"{number[:4]} {number[4:8]}-{number[8:12]} {number[12:]}"
    report = run(repository, ["number,pin", f'"{typed}", 4321 '])
    assert report.created == 1
    card = stored(repository, number)
    assert card is not None
    assert KEYS.pin_matches(card.pin_hash, card.lookup, "4321")


@pytest.mark.parametrize(
    "header", ["", "card,pin", "number", "number,pin,amount", "pin,number", "1234567890123452,1"]
)
def test_wrong_header_is_a_file_error(repository: Any, header: str) -> None:
    lines = [header, f"{card_number(1)},1234"] if header else []
    with pytest.raises(StockFileError):
        run(repository, lines)
    assert items(repository) == []


def test_header_is_case_and_blank_insensitive(repository: Any) -> None:
    assert run(repository, [" Number , PIN ", f"{card_number(1)},1234"]).created == 1


def test_progress_is_reported(repository: Any) -> None:
    seen: list[int] = []
    lines = ["number,pin"] + [f"{card_number(100 + i)}," for i in range(3)]
    run(repository, lines, progress=lambda report: seen.append(report.created + report.existing))
    assert seen and seen[-1] == 3
