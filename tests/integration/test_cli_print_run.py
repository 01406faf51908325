"""``giftcard stock generate COUNT --out FILE.csv`` (a print run) against moto: numbers and PINs
from the CSPRNG, in a file only its owner can read, every one imported as inactive stock; one
resumable, re-runnable step; never a number or PIN printed."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from giftcard.cards import CardState, generate_number, luhn_valid
from giftcard.keys import KeyMaterial
from giftcard.repository import Repository
from tests.support.aws import KEYS_SECRET, MASTER, TABLE, offline_aws
from tests.support.calls import Secrets, find_secrets, load_stock
from tools.cli import printrun
from tools.cli.main import main as giftcard

TARGET = ["--table", TABLE, "--keys-secret", KEYS_SECRET]
KEYS = KeyMaterial.from_master(MASTER)


@pytest.fixture
def aws() -> Iterator[None]:
    with offline_aws():
        yield


class Run:
    """``giftcard stock generate ...`` in-process; everything printed is kept for the scan."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.printed: list[str] = []

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        status = giftcard(["stock", "generate", *argv, *TARGET])
        out, err = self.capsys.readouterr()
        self.printed += [out, err]
        return status, out, err


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


def rows(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        assert next(reader) == ["number", "pin"]
        return [(number, pin) for number, pin in reader]


def stored(number: str) -> tuple[CardState, bool] | None:
    """(state, the stored PIN hash is this row's) of the card with this number."""
    lookup = KEYS.card_lookup(number)
    card = Repository(TABLE).get_card(lookup)
    return None if card is None else (card.state, card.pin_hash is not None)


def pin_matches(number: str, pin: str) -> bool:
    lookup = KEYS.card_lookup(number)
    card = Repository(TABLE).get_card(lookup)
    return (
        card is not None
        and card.pin_hash is not None
        and KEYS.pin_matches(card.pin_hash, lookup, pin)
    )


def counts(out: str) -> dict[str, int]:
    found = {}
    for line in out.splitlines():
        name, _, value = line.partition(": ")
        if value.split(" ")[0].isdigit() and not name.startswith("print run"):
            found[name] = int(value.split(" ")[0])
    return found


def assert_nothing_printed(run: Run, path: Path) -> None:
    registry = Secrets()
    for number, pin in rows(path):
        registry.add_card(number, pin)
    assert find_secrets("\n".join(run.printed), registry, emails=False) == []


def test_a_print_run_writes_an_owner_only_file_and_imports_every_card(
    aws: None, run: Run, tmp_path: Path
) -> None:
    out = tmp_path / "print-run.csv"
    status, printed, err = run("5", "--out", str(out))
    assert status == 0
    # The file: only its owner can read or write it
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    made = rows(out)
    assert len(made) == 5 and len({number for number, _ in made}) == 5
    for number, pin in made:
        # CSPRNG numbers with the service's prefix, length and a Luhn check digit; 4-digit PINs
        assert number.startswith("7777") and len(number) == 16 and luhn_valid(number)
        assert len(pin) == 4 and pin.isdigit()
        # every one is inactive stock with its PIN
        assert stored(number) == (CardState.INACTIVE, True)
        assert pin_matches(number, pin)
    assert counts(printed) == {"generated": 5, "created": 5, "already imported": 0}
    assert "print run" in err and "5/5" in err  # the progress bar, on stderr
    assert_nothing_printed(run, out)


def test_running_it_again_changes_nothing(aws: None, run: Run, tmp_path: Path) -> None:
    out = tmp_path / "print-run.csv"
    assert run("3", "--out", str(out))[0] == 0
    before = out.read_bytes()
    status, printed, _ = run("3", "--out", str(out))
    assert status == 0
    assert counts(printed) == {"generated": 0, "created": 0, "already imported": 3}
    assert out.read_bytes() == before


def test_a_larger_count_on_the_same_file_adds_only_the_missing_cards(
    aws: None, run: Run, tmp_path: Path
) -> None:
    out = tmp_path / "print-run.csv"
    run("2", "--out", str(out))
    first = rows(out)
    status, printed, _ = run("4", "--out", str(out))
    assert status == 0
    assert rows(out)[:2] == first and len(rows(out)) == 4
    assert counts(printed) == {"generated": 2, "created": 2, "already imported": 2}
    assert all(stored(number) for number, _ in rows(out))


def test_an_interrupted_run_is_finished_by_running_it_again(
    aws: None, run: Run, tmp_path: Path
) -> None:
    # Given a run that stopped after writing 3 rows, importing only the first, and in the middle
    # of writing a fourth line
    out = tmp_path / "print-run.csv"
    with printrun.PrintRunFile(out) as file:
        file.rows()
        written = printrun.fresh_rows(3, set(), prefix="7777", length=16, pin_length=4)
        file.append(written)
    load_stock([(written[0].number, written[0].pin)], Secrets())
    with out.open("a", encoding="utf-8") as stream:
        stream.write(generate_number("7777", 16)[:9])
    # When the same command runs again
    status, printed, _ = run("5", "--out", str(out))
    # Then the cut line is gone, the two rows not imported are, and two more make five
    assert status == 0
    assert counts(printed) == {"generated": 2, "created": 4, "already imported": 1}
    final = rows(out)
    assert [number for number, _ in final[:3]] == [row.number for row in written]
    assert len(final) == 5
    assert all(pin_matches(number, pin) for number, pin in final)
    assert_nothing_printed(run, out)


def test_an_aws_failure_leaves_the_rows_in_the_file_and_a_rerun_finishes(
    aws: None, run: Run, tmp_path: Path
) -> None:
    out = tmp_path / "print-run.csv"
    # When the table cannot be written (here: it does not exist)
    status = giftcard(
        [
            "stock",
            "generate",
            "3",
            "--out",
            str(out),
            "--table",
            "nope",
            "--keys-secret",
            KEYS_SECRET,
        ]
    )
    # Then the command fails with the AWS reason and says a re-run finishes the job
    assert status == 3
    assert "run the same command again" in run.capsys.readouterr().err
    written = rows(out)
    assert len(written) == 3
    # And the same command against the right table imports exactly those rows
    status, printed, _ = run("3", "--out", str(out))
    assert status == 0
    assert rows(out) == written
    assert counts(printed) == {"generated": 0, "created": 3, "already imported": 0}


def test_a_number_of_an_existing_card_is_replaced_and_never_printed(
    aws: None, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a card that exists already (someone else's, with its own PIN)
    taken = generate_number("7777", 16)
    load_stock([(taken, "1111")], Secrets())
    # When the CSPRNG happens to draw its number first
    draws = iter([taken])
    real = printrun.generate_number
    monkeypatch.setattr(
        printrun,
        "generate_number",
        lambda prefix, length: next(draws, None) or real(prefix, length),
    )
    out = tmp_path / "print-run.csv"
    status, printed, _ = run("3", "--out", str(out), "--pin-length", "6")
    # Then the file holds three other numbers, all imported; the existing card is untouched
    assert status == 0
    made = rows(out)
    assert taken not in {number for number, _ in made} and len(made) == 3
    assert all(pin_matches(number, pin) and len(pin) == 6 for number, pin in made)
    assert pin_matches(taken, "1111")
    assert counts(printed)["replaced"] == 1
    assert counts(printed)["created"] == 3
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert taken not in "\n".join(run.printed)


def test_json_summary(aws: None, run: Run, tmp_path: Path) -> None:
    out = tmp_path / "print-run.csv"
    status, printed, _ = run("2", "--out", str(out), "--json", "--prefix", "5555", "--length", "19")
    assert status == 0
    assert json.loads(printed) == {
        "file": str(out),
        "cards": 2,
        "generated": 2,
        "created": 2,
        "already_imported": 0,
        "replaced": 0,
    }
    assert all(n.startswith("5555") and len(n) == 19 for n, _ in rows(out))


# Files it refuses --------------------------------------------------------------------------------


def test_a_file_others_can_read_is_refused(aws: None, run: Run, tmp_path: Path) -> None:
    out = tmp_path / "print-run.csv"
    out.write_text("number,pin\n")
    out.chmod(0o644)
    status, _, err = run("2", "--out", str(out))
    assert status == 2
    assert "read by others" in err
    assert out.read_text() == "number,pin\n"


def test_a_symbolic_link_is_refused(aws: None, run: Run, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.csv"
    target.write_text("")
    target.chmod(0o600)
    out = tmp_path / "print-run.csv"
    out.symlink_to(target)
    status, _, err = run("2", "--out", str(out))
    assert status == 2
    assert "symbolic link" in err
    assert target.read_text() == ""


def test_a_file_with_more_rows_than_count_is_refused(aws: None, run: Run, tmp_path: Path) -> None:
    out = tmp_path / "print-run.csv"
    run("3", "--out", str(out))
    status, _, err = run("2", "--out", str(out))
    assert status == 2
    assert "already holds 3 cards" in err


def test_a_file_that_is_not_a_print_run_is_refused_by_line(
    aws: None, run: Run, tmp_path: Path
) -> None:
    out = tmp_path / "print-run.csv"
    stock_number = generate_number("7777", 16)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, f"number,pin\n{stock_number},\n".encode())
    os.close(fd)
    status, _, err = run("2", "--out", str(out))
    assert status == 2
    assert "line 2: no PIN" in err
    assert stock_number not in err
    assert stored(stock_number) is None


def test_a_file_in_use_by_another_run_is_refused(aws: None, run: Run, tmp_path: Path) -> None:
    out = tmp_path / "print-run.csv"
    run("1", "--out", str(out))
    with out.open("r") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        status, _, err = run("2", "--out", str(out))
    assert status == 2
    assert "in use" in err
    assert len(rows(out)) == 1


@pytest.mark.parametrize(
    "options",
    [["0"], ["2", "--pin-length", "3"], ["2", "--length", "11"], ["2", "--prefix", "12ab"]],
    ids=["count", "pin-length", "length", "prefix"],
)
def test_bad_options_are_refused_before_any_file_is_made(
    aws: None, run: Run, tmp_path: Path, options: list[str]
) -> None:
    out = tmp_path / "print-run.csv"
    status, _, _ = run(*options, "--out", str(out))
    assert status == 2
    assert not out.exists()
