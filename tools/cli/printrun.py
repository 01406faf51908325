"""A print run: new card numbers and PINs for the print shop, imported as inactive stock, in one
resumable step.

The numbers come from a CSPRNG (``giftcard.cards.generate_number``: prefix, random digits, Luhn
check digit) with PINs from the same source. They are written to the output file *before* they
are imported, so a card never exists in the table without its row in the file; the file is
created with ``O_EXCL`` and mode 0600 (only its owner can read it) and refused when it is a
symlink, someone else's, or readable by others. A run that stops anywhere (crash, Ctrl-C, AWS
failure) is finished by running the same command again: the rows already in the file are
imported if they are not yet (a row whose card exists with the row's PIN was imported earlier),
and only the missing count is generated. A generated number that turns out to belong to an
existing card (another card, not ours: its PIN differs) is taken out of the file and replaced,
so the print shop never prints someone else's number.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from giftcard.cards import generate_number, generate_pin
from giftcard.clock import Clock
from giftcard.keys import KeyMaterial
from giftcard.repository import Repository
from giftcard.stock import HEADER, Rejected, StockFileError, StockRow, read_stock, stock_card

HEADER_LINE = ",".join(HEADER) + "\n"
#: Cards per round trip (one transaction of conditional Puts).
BATCH = 100
MODE = 0o600


class PrintRunError(ValueError):
    """The output file cannot be used (its message names lines, never a number)."""


@dataclass
class PrintRunReport:
    requested: int
    in_file: int = 0  # rows in the file when the run started
    generated: int = 0  # rows this run added to the file
    created: int = 0  # cards this run created
    already: int = 0  # rows an earlier run had imported
    replaced: int = 0  # numbers of existing cards, replaced by new ones


class PrintRunFile:
    """The output file: created 0600 (or reopened after the checks), locked while in use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1
        self.created = False

    def __enter__(self) -> PrintRunFile:
        self.fd = self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, MODE)
            self.created = True
        except FileExistsError:
            try:
                fd = os.open(self.path, flags)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise PrintRunError(f"{self.path} is a symbolic link: refused") from exc
                raise PrintRunError(f"cannot open {self.path}: {exc.strerror}") from exc
        except OSError as exc:
            raise PrintRunError(f"cannot create {self.path}: {exc.strerror}") from exc
        try:
            self._check(fd)
            if self.created:
                os.fchmod(fd, MODE)  # whatever the umask
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _check(self, fd: int) -> None:
        info = os.fstat(fd)
        if not _is_regular(info.st_mode):
            raise PrintRunError(f"{self.path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise PrintRunError(f"{self.path} belongs to someone else: refused")
        if info.st_mode & 0o077:
            raise PrintRunError(
                f"{self.path} can be read by others than you: if it is a print run you started, "
                "check who read it, then chmod 600 it and run again; otherwise choose another --out"
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PrintRunError(f"{self.path} is in use by another run") from None

    def rows(self) -> list[StockRow]:
        """The file's rows, validated; a last line cut short by a crash is dropped (it was never
        imported: rows are imported only after they are on disk)."""
        content = _read_all(self.fd)
        if not content or HEADER_LINE.encode().startswith(content):
            self._write_at(0, HEADER_LINE.encode(), truncate=True)
            return []
        if not content.endswith(b"\n"):
            content = content[: content.rfind(b"\n") + 1]
            os.ftruncate(self.fd, len(content))
            os.fsync(self.fd)
        try:
            lines = content.decode("utf-8").splitlines(keepends=True)
        except UnicodeDecodeError:
            raise PrintRunError(f"{self.path} is not a print run file (not UTF-8 text)") from None
        rows: list[StockRow] = []
        try:
            for result in read_stock(lines):
                if isinstance(result, Rejected):
                    raise PrintRunError(
                        f"{self.path} line {result.line}: {result.reason} (not a file this command "
                        "wrote? choose another --out)"
                    )
                if result.pin is None:
                    raise PrintRunError(
                        f"{self.path} line {result.line}: no PIN (every card of a print run has "
                        "one: not a file this command wrote? choose another --out)"
                    )
                rows.append(result)
        except StockFileError as exc:
            raise PrintRunError(f"{self.path}: {exc}") from exc
        return rows

    def append(self, rows: Sequence[StockRow]) -> None:
        """The rows, on disk (fsync) before anything imports them."""
        if rows:
            data = "".join(f"{row.number},{row.pin}\n" for row in rows).encode()
            self._write_at(os.lseek(self.fd, 0, os.SEEK_END), data)

    def rewrite(self, rows: Sequence[StockRow]) -> None:
        """Replace the file's rows atomically (a new file, 0600, renamed over the old one)."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, MODE
        )
        try:
            os.fchmod(fd, MODE)
            data = HEADER_LINE + "".join(f"{row.number},{row.pin}\n" for row in rows)
            _write_all(fd, data.encode())
            os.fsync(fd)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(temporary, self.path)
        except BaseException:
            os.close(fd)
            temporary.unlink(missing_ok=True)
            raise
        os.close(self.fd)
        self.fd = fd
        _fsync_directory(self.path.parent)

    def _write_at(self, offset: int, data: bytes, truncate: bool = False) -> None:
        if truncate:
            os.ftruncate(self.fd, 0)
        os.lseek(self.fd, offset, os.SEEK_SET)
        _write_all(self.fd, data)
        os.fsync(self.fd)


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fresh_rows(
    count: int, taken: set[str], *, prefix: str, length: int, pin_length: int
) -> list[StockRow]:
    """``count`` new numbers (none in ``taken``, which grows) with PINs, from the CSPRNG."""
    rows: list[StockRow] = []
    while len(rows) < count:
        number = generate_number(prefix, length)
        if number in taken:
            continue
        taken.add(number)
        rows.append(StockRow(0, number, generate_pin(pin_length)))
    return rows


def print_run(
    file: PrintRunFile,
    count: int,
    repository: Repository,
    keys: KeyMaterial,
    *,
    prefix: str,
    length: int,
    pin_length: int,
    clock: Clock | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 8,
) -> PrintRunReport:
    """Make ``file`` hold ``count`` cards, every one imported as inactive stock.

    ``progress(done, count)`` is called as rows are confirmed in the table.
    """
    rows = file.rows()
    if len(rows) > count:
        raise PrintRunError(
            f"{file.path} already holds {len(rows)} cards, more than {count}: run with COUNT "
            f"{len(rows)} or more to finish it, or choose another --out"
        )
    report = PrintRunReport(requested=count, in_file=len(rows))
    taken = {row.number for row in rows}

    def fresh(how_many: int) -> list[StockRow]:
        return fresh_rows(how_many, taken, prefix=prefix, length=length, pin_length=pin_length)

    new = fresh(count - len(rows))
    file.append(new)
    report.generated += len(new)
    in_file = rows + new
    pending = in_file
    now_iso = (clock or Clock()).now().iso
    done = 0
    if progress is not None:
        progress(done, count)

    def batch(chunk: list[StockRow]) -> tuple[int, int, list[str]]:
        """(created, imported earlier, numbers that belong to other cards) for one batch."""
        cards = [stock_card(row, keys, now_iso) for row in chunk]
        results = repository.create_cards(cards)
        created = sum(results)
        earlier, others = 0, []
        for row, card, made in zip(chunk, cards, results, strict=True):
            if made:
                continue
            stored = repository.get_card(card.lookup)
            ours = (
                stored is not None
                and stored.pin_hash is not None
                and row.pin is not None
                and keys.pin_matches(stored.pin_hash, card.lookup, row.pin)
            )
            if ours:
                earlier += 1
            else:
                others.append(row.number)
        return created, earlier, others

    while pending:
        collided: set[str] = set()
        chunks = [pending[start : start + BATCH] for start in range(0, len(pending), BATCH)]
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for created, earlier, others in pool.map(batch, chunks):
                report.created += created
                report.already += earlier
                collided.update(others)
                done += created + earlier
                if progress is not None:
                    progress(done, count)
        if not collided:
            break
        # Someone else's card has this number: it must not be printed. Out of the file, and a
        # new number in its place (the file is rewritten before the replacements are imported).
        report.replaced += len(collided)
        replacements = fresh(len(collided))
        in_file = [row for row in in_file if row.number not in collided] + replacements
        file.rewrite(in_file)
        report.generated += len(replacements)
        pending = replacements
    return report
