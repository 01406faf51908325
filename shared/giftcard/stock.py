"""Printed card stock: the only way inactive physical cards enter the system.

A CSV with the header ``number,pin`` (pin may be empty). Every row is validated first; valid
rows become inactive cards through conditional writes, so a re-run leaves existing cards
untouched (and counts them). Rejections name the line and the reason, never the number.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from giftcard.cards import Card, CardState, last4, luhn_valid, normalize_number, valid_pin_format
from giftcard.clock import Clock
from giftcard.keys import KeyMaterial
from giftcard.repository import Repository

HEADER = ["number", "pin"]
#: Cards written per round trip (one transaction; DynamoDB allows 100 items).
BATCH = 100


@dataclass(frozen=True)
class StockRow:
    line: int
    number: str
    pin: str | None


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    existing: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.rejected


class StockFileError(ValueError):
    """The file as a whole is unusable (wrong header)."""


def read_stock(lines: Iterable[str]) -> Iterator[StockRow | Rejected]:
    """Validate a stock CSV row by row (line numbers count the header as line 1)."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or [column.strip().lower() for column in header] != HEADER:
        raise StockFileError("the first line must be the header 'number,pin'")
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != 2:
            yield Rejected(line, f"expected 2 columns, found {len(row)}")
            continue
        number = normalize_number(row[0])
        if number is None:
            yield Rejected(line, "number must be 12 to 19 digits")
            continue
        if not luhn_valid(number):
            yield Rejected(line, "number fails the Luhn check")
            continue
        pin = row[1].strip() or None
        if pin is not None and not (valid_pin_format(pin) and len(pin) >= 4):
            yield Rejected(line, "pin must be empty or 4 to 12 digits")
            continue
        if number in seen:
            yield Rejected(line, f"number repeats line {seen[number]}")
            continue
        seen[number] = line
        yield StockRow(line, number, pin)


def stock_card(row: StockRow, keys: KeyMaterial, now_iso: str) -> Card:
    lookup = keys.card_lookup(row.number)
    return Card(
        lookup=lookup,
        state=CardState.INACTIVE,
        last4=last4(row.number),
        version=1,
        pin_hash=keys.pin_hash(lookup, row.pin) if row.pin else None,
        created_at=now_iso,
        source="stock",
    )


def import_stock(
    lines: Iterable[str],
    repository: Repository,
    keys: KeyMaterial,
    *,
    clock: Clock | None = None,
    dry_run: bool = False,
    progress: Callable[[ImportReport], None] | None = None,
    workers: int = 8,
) -> ImportReport:
    """Create an inactive card for every valid row that does not exist yet.

    The whole file is validated before anything is written: a file with rejected rows writes
    nothing (fix it and run again). ``dry_run`` validates and counts what would be created.
    """
    report = ImportReport(dry_run=dry_run)
    rows: list[StockRow] = []
    for result in read_stock(lines):
        report.rows += 1
        if isinstance(result, Rejected):
            report.rejected.append(result)
        else:
            rows.append(result)
    if report.rejected:
        return report
    now_iso = (clock or Clock()).now().iso

    def batch(chunk: list[StockRow]) -> list[bool]:
        cards = [stock_card(row, keys, now_iso) for row in chunk]
        if dry_run:
            return [repository.get_card(card.lookup) is None for card in cards]
        return repository.create_cards(cards)

    # Batches of one transaction each: 100 cards per round trip instead of one.
    chunks = [rows[start : start + BATCH] for start in range(0, len(rows), BATCH)]
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for results in pool.map(batch, chunks):
            before, done = done, done + len(results)
            for created in results:
                if created:
                    report.created += 1
                else:
                    report.existing += 1
            if progress is not None and (done // 500 > before // 500 or done == len(rows)):
                progress(report)
    return report
