"""``giftcard stock import`` (printed card stock) and ``giftcard stock generate`` (a print run).

Import: the CSV has the header ``number,pin`` (pin may be empty). The whole file is validated
first; a file with a rejected row writes nothing. Existing cards are left untouched and counted,
so a re-run is safe. Rejected rows are named by line number, never by card number or PIN
(``giftcard.stock``). Generate: see ``tools.cli.printrun``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from rich.progress import Progress, TaskID

from giftcard.stock import ImportReport
from tools.cli import bulk
from tools.cli.context import Context
from tools.cli.failures import EXIT_INPUT, EXIT_OK, EXIT_REFUSED, CliError
from tools.cli.output import console_for, progress_bar

RERUN_IMPORT = (
    "nothing is half-written: run the same command again (existing cards are counted, not "
    "duplicated)"
)
RERUN_PRINT_RUN = (
    "every generated row is already in the file: run the same command again to finish the run"
)


def report_lines(report: ImportReport) -> list[str]:
    """The counts and each rejected row (line number and reason: the reasons never quote a
    number or PIN)."""
    created = "would create" if report.dry_run else "created"
    lines = [
        f"rows: {report.rows}",
        f"{created}: {report.created}",
        f"existing: {report.existing}",
        f"rejected: {len(report.rejected)}",
    ]
    lines += [f"line {rejected.line}: {rejected.reason}" for rejected in report.rejected]
    if report.rejected:
        lines.append("nothing was written: fix the rejected rows and run again")
    elif report.dry_run:
        lines.append("dry run: nothing was written")
    return lines


def report_json(report: ImportReport) -> dict[str, Any]:
    return {
        "rows": report.rows,
        "would_create" if report.dry_run else "created": report.created,
        "existing": report.existing,
        "rejected": [{"line": r.line, "reason": r.reason} for r in report.rejected],
        "dry_run": report.dry_run,
    }


class StockProgress:
    """A progress bar for ``giftcard.stock.import_stock`` (its ``progress`` callback) on
    ``stream``; ``finish()`` when the import is over. The local run uses it for ``STOCK_CSV``."""

    def __init__(self, stream: TextIO) -> None:
        self.console = console_for(stream)
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, report: ImportReport) -> None:
        valid = report.rows - len(report.rejected)
        if self.bar is None:
            self.bar = progress_bar(self.console)
            self.bar.start()
            verb = "checked" if report.dry_run else "imported"
            self.task = self.bar.add_task(verb, total=valid)
        assert self.task is not None
        self.bar.update(self.task, completed=report.created + report.existing)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def import_(args: argparse.Namespace, ctx: Context) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from giftcard.stock import StockFileError, import_stock
    from giftcard.writes import StorageBusy, StorageUnreachable

    source: Any = None
    progress = StockProgress(ctx.out.stderr)
    try:
        try:
            source = (
                ctx.stdin if args.file == "-" else open(args.file, encoding="utf-8-sig", newline="")  # noqa: SIM115
            )
        except OSError as exc:
            raise CliError(f"cannot read {args.file}: {exc.strerror}", EXIT_INPUT) from exc
        try:
            repository, keys = bulk.repository_and_keys(args)
            report = import_stock(source, repository, keys, dry_run=args.dry_run, progress=progress)
        except (ClientError, BotoCoreError, StorageBusy, StorageUnreachable) as exc:
            raise bulk.storage_failure(exc, RERUN_IMPORT) from exc
        except StockFileError as exc:
            raise CliError(f"{args.file}: {exc}", EXIT_INPUT) from exc
        except UnicodeDecodeError as exc:
            raise CliError(f"{args.file}: not a UTF-8 text file", EXIT_INPUT) from exc
    finally:
        progress.finish()
        if source is not None and source is not ctx.stdin:
            source.close()
    if ctx.out.json_mode:
        ctx.out.json(report_json(report))
    else:
        for line in report_lines(report):
            ctx.out.line(line)
    return EXIT_OK if report.ok else EXIT_REFUSED


def generate(args: argparse.Namespace, ctx: Context) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from giftcard.settings import get_settings
    from giftcard.writes import StorageBusy, StorageUnreachable
    from tools.cli.printrun import PrintRunError, PrintRunFile, print_run

    if args.count < 1:
        raise CliError("COUNT is at least 1")
    settings = get_settings()
    prefix = settings.card_number_prefix if args.prefix is None else args.prefix
    length = args.length or settings.card_number_length
    pin_length = args.pin_length or settings.pin_length
    if not prefix.isdigit() and prefix != "":
        raise CliError("--prefix is digits")
    if not 12 <= length <= 19 or len(prefix) + 9 > length:
        raise CliError("--length is 12 to 19, with room for 8 random digits after the prefix")
    if not 4 <= pin_length <= 12:
        raise CliError("--pin-length is 4 to 12")
    out = Path(args.out)
    if args.out == "-" or out.is_dir():
        raise CliError("--out names the file to write (it gets the numbers and PINs)")

    bar = ctx.out.progress()
    task = bar.add_task("print run", total=args.count)

    def progress(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    try:
        repository, keys = bulk.repository_and_keys(args)
        with PrintRunFile(out) as file, bar:
            report = print_run(
                file,
                args.count,
                repository,
                keys,
                prefix=prefix,
                length=length,
                pin_length=pin_length,
                progress=progress,
            )
    except PrintRunError as exc:
        raise CliError(str(exc), EXIT_INPUT) from exc
    except (ClientError, BotoCoreError, StorageBusy, StorageUnreachable) as exc:
        raise bulk.storage_failure(exc, RERUN_PRINT_RUN) from exc
    summary = {
        "file": str(out),
        "cards": args.count,
        "generated": report.generated,
        "created": report.created,
        "already_imported": report.already,
        "replaced": report.replaced,
    }
    if ctx.out.json_mode:
        ctx.out.json(summary)
    else:
        ctx.out.line(f"print run {out}: {args.count} cards (number,pin; only you can read it)")
        ctx.out.line(f"generated: {report.generated}")
        ctx.out.line(f"created: {report.created}")
        ctx.out.line(f"already imported: {report.already}")
        if report.replaced:
            ctx.out.line(f"replaced: {report.replaced} (numbers of existing cards, never printed)")
        ctx.out.line("give the file to the print shop only; the cards are inactive until sold")
    return EXIT_OK
