"""``giftcard cards export FILE.csv``: every card, for finance and reconciliation, never a number.

The table is scanned once through the repository; each card becomes one row:
``card_id,last4,state,currency,balance,held,created_at,last_activity_at,expires_at`` (amounts in
major units with the currency's decimals; empty for unactivated stock). A card's ledger entries
share its partition, and a scan returns a partition's items together, so its last activity is
the newest of its entries and its own times without a second read. The file appears only once
complete (written aside, then renamed); ``-`` writes to standard output.
"""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from tools.cli import bulk
from tools.cli.context import Context
from tools.cli.failures import EXIT_INPUT, EXIT_OK, CliError

COLUMNS = [
    "card_id",
    "last4",
    "state",
    "currency",
    "balance",
    "held",
    "created_at",
    "last_activity_at",
    "expires_at",
]


def major(minor: int, currency: str | None) -> str:
    if not currency:
        return ""
    from giftcard.money import minor_digits

    digits = minor_digits(currency) or 0
    return str(Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits)))


def card_rows(items: Iterable[dict[str, Any]]) -> Iterator[list[str]]:
    """One row per card item of a table scan, its last activity from the entries of its
    partition (which a scan returns together with the card)."""
    from giftcard.items import card_from_item, card_id

    pending: dict[str, Any] | None = None
    latest = ""

    def row(item: dict[str, Any], latest: str) -> list[str]:
        card = card_from_item(item)
        times = [
            latest,
            card.created_at,
            card.activated_at or "",
            card.deactivated_at or "",
            str(item.get("last_activity_at") or ""),
        ]
        # Entry times carry microseconds; compare and show them to the second.
        last = max(value[:19] for value in times)
        return [
            card_id(card.lookup),
            card.last4,
            str(card.state),
            card.currency or "",
            major(card.balance, card.currency),
            major(card.held, card.currency),
            card.created_at,
            f"{last}Z" if last else "",
            card.expires_at or "",
        ]

    current_pk = None
    for item in items:
        pk = item.get("PK")
        if pk != current_pk:
            if pending is not None:
                yield row(pending, latest)
            pending, latest, current_pk = None, "", pk
        kind = item.get("type")
        if kind == "card":
            pending = item
        elif kind == "entry":
            latest = max(latest, str(item.get("created_at") or ""))
    if pending is not None:
        yield row(pending, latest)


def write_cards(
    items: Iterable[dict[str, Any]],
    stream: TextIO,
    counted: Callable[[int], None] | None = None,
) -> int:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    written = 0

    def counting() -> Iterator[dict[str, Any]]:
        scanned = 0
        for scanned, item in enumerate(items, 1):
            if counted is not None and scanned % 500 == 0:
                counted(scanned)
            yield item
        if counted is not None:
            counted(scanned)

    for values in card_rows(counting()):
        writer.writerow(values)
        written += 1
    return written


def export(args: argparse.Namespace, ctx: Context) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from giftcard.writes import StorageBusy, StorageUnreachable

    to_stdout = args.file == "-"
    path = Path(args.file)
    if not to_stdout and (path.is_dir() or not path.parent.is_dir()):
        raise CliError(f"cannot write {args.file}: no such directory", EXIT_INPUT)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    bar = ctx.out.progress(counted=False)
    task = bar.add_task("scanned", total=None)
    try:
        repository = bulk.repository(args)
        with bar:
            if to_stdout:
                written = write_cards(
                    repository.scan_all(), ctx.out.stdout, lambda n: bar.update(task, completed=n)
                )
            else:
                with open(temporary, "w", encoding="utf-8", newline="") as stream:
                    written = write_cards(
                        repository.scan_all(), stream, lambda n: bar.update(task, completed=n)
                    )
                os.replace(temporary, path)
    except (ClientError, BotoCoreError, StorageBusy, StorageUnreachable) as exc:
        raise bulk.storage_failure(exc, "nothing was written: run the command again") from exc
    except OSError as exc:
        raise CliError(f"cannot write {args.file}: {exc.strerror}", EXIT_INPUT) from exc
    finally:
        temporary.unlink(missing_ok=True)
    if not to_stdout:
        if ctx.out.json_mode:
            ctx.out.json({"file": str(path), "cards": written})
        else:
            ctx.out.line(f"{written} cards written to {path} (no card numbers)")
    return EXIT_OK
