"""``giftcard cards export FILE.csv`` against moto: one row per card with its id, last 4, state,
money, times and last activity; never a number or PIN."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from giftcard.items import card_id
from giftcard.keys import KeyMaterial
from giftcard.repository import Repository
from tests.support.aws import MASTER, TABLE
from tests.support.calls import SECRETS, card_number, find_secrets, issue_card, load_stock
from tools.cli.export import COLUMNS
from tools.cli.main import main as giftcard

KEYS = KeyMaterial.from_master(MASTER)

pytestmark = pytest.mark.usefixtures("aws")


def exported(text: str) -> dict[str, dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == COLUMNS
    return {row["card_id"]: row for row in reader}


def id_of(number: str) -> str:
    return card_id(KEYS.card_lookup(number))


def last_entry_time(number: str) -> str:
    entries = Repository(TABLE).ledger(KEYS.card_lookup(number))
    return max(entry.created_at for entry in entries)[:19] + "Z"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = giftcard(["cards", "export", *argv, "--table", TABLE])
    out, err = capsys.readouterr()
    return status, out, err


def test_every_card_is_a_row_without_its_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two issued cards (USD with cents, JPY without) and two cards of printed stock
    dollars, _ = issue_card("25.5", "USD")
    yen, _ = issue_card(5000, "JPY")
    stock = [card_number(1), card_number(2)]
    load_stock([(stock[0], "1234"), (stock[1], None)])
    out = tmp_path / "cards.csv"
    # When they are exported
    status, printed, err = run(capsys, str(out))
    # Then there is one row per card, identified by card_id and last 4
    assert status == 0
    rows = exported(out.read_text(encoding="utf-8"))
    assert set(rows) == {id_of(n) for n in [dollars, yen, *stock]}
    usd = rows[id_of(dollars)]
    assert (usd["last4"], usd["state"], usd["currency"]) == (dollars[-4:], "active", "USD")
    assert (usd["balance"], usd["held"]) == ("25.50", "0.00")
    assert usd["last_activity_at"] == last_entry_time(dollars)
    assert usd["created_at"] and usd["expires_at"] == ""
    assert (rows[id_of(yen)]["balance"], rows[id_of(yen)]["held"]) == ("5000", "0")
    printed_stock = rows[id_of(stock[0])]
    assert (printed_stock["state"], printed_stock["currency"], printed_stock["balance"]) == (
        "inactive",
        "",
        "",
    )
    assert printed_stock["last_activity_at"] == printed_stock["created_at"]
    assert "4 cards written" in printed
    assert "scanned" in err
    # And no number or PIN is in the file or anything printed
    everything = out.read_text(encoding="utf-8") + printed + err
    assert find_secrets(everything, SECRETS, emails=False) == []


def test_export_to_standard_output_and_json_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    number, _ = issue_card(10, "EUR")
    status, printed, _ = run(capsys, "-")
    assert status == 0
    assert list(exported(printed)) == [id_of(number)]
    status, printed, _ = run(capsys, str(tmp_path / "cards.csv"), "--json")
    assert json.loads(printed) == {"file": str(tmp_path / "cards.csv"), "cards": 1}


def test_the_last_activity_is_the_newest_entry(capsys: pytest.CaptureFixture[str]) -> None:
    from giftcard.items import entry_item

    number, _ = issue_card(10, "USD")
    lookup = KEYS.card_lookup(number)
    repository = Repository(TABLE)
    # A later entry in the card's partition (as a capture would write)
    later: Any = repository.ledger(lookup)[-1]
    later = later.__class__(**{**later.__dict__, "created_at": "2030-05-06T07:08:09.123456Z"})
    item = entry_item(later)
    item["SK"] = item["SK"].replace(item["SK"].split("#")[1], "2030-05-06T07:08:09.123456Z")
    repository.client.put_item(TableName=TABLE, Item=repository._dump(item))
    status, printed, _ = run(capsys, "-")
    assert status == 0
    assert exported(printed)[id_of(number)]["last_activity_at"] == "2030-05-06T07:08:09Z"


def test_an_aws_failure_leaves_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cards.csv"
    status = giftcard(["cards", "export", str(out), "--table", "nope"])
    _, err = capsys.readouterr()
    assert status == 3
    assert "ResourceNotFound" in err
    assert list(tmp_path.iterdir()) == []


def test_a_missing_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, str(tmp_path / "no" / "cards.csv"))
    assert status == 2
    assert "no such directory" in err
