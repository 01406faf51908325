"""``giftcard stock import`` (printed card stock) against moto; ``python -m tools.import_stock`` and
``make import-stock`` run the same command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from giftcard.cards import CardState, generate_number
from giftcard.keys import KeyMaterial
from giftcard.repository import Repository
from tests.support.aws import KEYS_SECRET, MASTER, TABLE, offline_aws
from tools.cli.main import main as giftcard

PIN = "908172"
TARGET = ["--table", TABLE, "--keys-secret", KEYS_SECRET]


class Numbers(list[str]):
    """Card numbers; the repr hides them (pytest shows fixture values on failure)."""

    def __repr__(self) -> str:
        return f"<{len(self)} card numbers>"


@pytest.fixture
def aws() -> Iterator[None]:
    with offline_aws():
        yield


@pytest.fixture
def numbers() -> Numbers:
    return Numbers(generate_number("9999", 16) for _ in range(4))


class Run:
    """Runs ``giftcard stock import ARGV`` in-process; remembers everything it printed."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.printed: list[str] = []

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        status = giftcard(["stock", "import", *argv])
        out, err = self.capsys.readouterr()
        self.printed += [out, err]
        return status, out, err


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


def write_csv(path: Path, rows: list[str], header: str = "number,pin") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def stored_state(number: str) -> CardState | None:
    keys = KeyMaterial.from_master(MASTER)
    card = Repository(TABLE).get_card(keys.card_lookup(number))
    return card.state if card else None


def counts(out: str) -> dict[str, int]:
    found = {}
    for line in out.splitlines():
        name, _, value = line.partition(": ")
        if value.isdigit():
            found[name] = int(value)
    return found


def assert_no_secrets(run: Run, numbers: list[str]) -> None:
    text = "\n".join(run.printed)
    leaked = [number[-4:] for number in numbers if number in text]
    assert leaked == [], "a card number (last 4 shown) was printed"
    assert PIN not in text, "a PIN was printed"


def test_imports_inactive_cards_and_a_rerun_counts_them_existing(
    aws: None, run: Run, numbers: Numbers, tmp_path: Path
) -> None:
    # Given a stock file with three cards, one of them without a PIN
    csv = write_csv(
        tmp_path / "stock.csv", [f"{numbers[0]},{PIN}", f"{numbers[1]},{PIN}", f"{numbers[2]},"]
    )
    # When it is imported
    status, out, _ = run(str(csv), *TARGET)
    # Then the three cards exist, inactive, and the counts say so
    assert status == 0
    assert counts(out) == {"rows": 3, "created": 3, "existing": 0, "rejected": 0}
    assert [stored_state(n) for n in numbers[:3]] == [CardState.INACTIVE] * 3
    # When the same file is imported again (plus one new card)
    write_csv(
        csv, [f"{numbers[0]},{PIN}", f"{numbers[1]},{PIN}", f"{numbers[2]},", f"{numbers[3]},"]
    )
    status, out, _ = run(str(csv), *TARGET)
    # Then only the new card is created; the others are counted as existing
    assert status == 0
    assert counts(out) == {"rows": 4, "created": 1, "existing": 3, "rejected": 0}
    assert_no_secrets(run, numbers)


def test_dry_run_counts_and_writes_nothing(
    aws: None, run: Run, numbers: Numbers, tmp_path: Path
) -> None:
    csv = write_csv(tmp_path / "stock.csv", [f"{n},{PIN}" for n in numbers[:2]])
    status, out, _ = run(str(csv), "--dry-run", *TARGET)
    assert status == 0
    assert counts(out) == {"rows": 2, "would create": 2, "existing": 0, "rejected": 0}
    assert "dry run: nothing was written" in out
    assert [stored_state(n) for n in numbers[:2]] == [None, None]


def test_rejected_rows_are_named_by_line_and_nothing_is_written(
    aws: None, run: Run, numbers: Numbers, tmp_path: Path
) -> None:
    # Given a file with a good row, a Luhn failure, a bad PIN, a repeated number, a short row
    wrong_check_digit = numbers[1][:-1] + str((int(numbers[1][-1]) + 1) % 10)
    csv = write_csv(
        tmp_path / "stock.csv",
        [
            f"{numbers[0]},{PIN}",
            f"{wrong_check_digit},{PIN}",
            f"{numbers[2]},12",
            f"{numbers[0]},",
            "5",
        ],
    )
    status, out, _ = run(str(csv), *TARGET)
    # Then the command fails, names each bad line and why, and creates no card at all
    assert status == 1
    assert counts(out)["rejected"] == 4
    assert "line 3: number fails the Luhn check" in out
    assert "line 4: pin must be empty or 4 to 12 digits" in out
    assert "line 5: number repeats line 2" in out
    assert "line 6: expected 2 columns, found 1" in out
    assert "nothing was written" in out
    assert stored_state(numbers[0]) is None
    assert_no_secrets(run, [*numbers, wrong_check_digit])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"card,pin\n4111111111111111,\n", "header 'number,pin'"),
        (b"", "header 'number,pin'"),
        (b"number,pin\n\xff\xfe\x00garbage\n", "not a UTF-8 text file"),
    ],
    ids=["wrong-header", "empty", "not-utf8"],
)
def test_unusable_file_exits_2(
    aws: None, run: Run, tmp_path: Path, content: bytes, message: str
) -> None:
    csv = tmp_path / "stock.csv"
    csv.write_bytes(content)
    status, _, err = run(str(csv), *TARGET)
    assert status == 2
    assert message in err


def test_missing_file_exits_2(aws: None, run: Run, tmp_path: Path) -> None:
    status, _, err = run(str(tmp_path / "nope.csv"), *TARGET)
    assert status == 2
    assert "cannot read" in err


def test_unknown_key_secret_is_an_aws_failure(
    aws: None, run: Run, numbers: Numbers, tmp_path: Path
) -> None:
    csv = write_csv(tmp_path / "stock.csv", [f"{numbers[0]},"])
    status, _, err = run(str(csv), "--table", TABLE, "--keys-secret", "no/such/secret")
    assert status == 3
    assert "key material" in err
    assert stored_state(numbers[0]) is None


def test_stack_outputs_name_the_table_and_the_secret(
    aws: None, run: Run, numbers: Numbers, tmp_path: Path
) -> None:
    # Given a deployed stack whose outputs name the table and the key material secret
    import boto3

    secret_arn = boto3.client("secretsmanager").describe_secret(SecretId=KEYS_SECRET)["ARN"]
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "TableName": {"Value": TABLE},
            "KeyMaterialSecretArn": {"Value": secret_arn},
        },
    }
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName="GiftCards", TemplateBody=json.dumps(template))
    cloudformation.create_stack(
        StackName="Other",
        TemplateBody=json.dumps({"Resources": template["Resources"], "Outputs": {}}),
    )
    csv = write_csv(tmp_path / "stock.csv", [f"{numbers[0]},{PIN}"])
    # When the import names the stack
    status, out, _ = run(str(csv), "--stack", "GiftCards")
    # Then the card lands in the stack's table
    assert status == 0
    assert counts(out)["created"] == 1
    assert stored_state(numbers[0]) is CardState.INACTIVE
    # And a stack without those outputs is refused
    status, _, err = run(str(csv), "--stack", "Other")
    assert status == 2
    assert "TableName" in err


def test_stack_and_table_together_are_refused(run: Run, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(str(tmp_path / "x.csv"), "--stack", "S", "--table", "T")
    assert exit_info.value.code == 2


def test_progress_is_shown_on_stderr(aws: None, run: Run, numbers: Numbers, tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "stock.csv", [f"{n}," for n in numbers[:3]])
    status, out, err = run(str(csv), *TARGET)
    assert status == 0
    assert "imported" in err and "3/3" in err
    assert "imported" not in out  # stdout keeps only the report


def test_json_reports_the_counts_and_rejected_lines(
    aws: None, run: Run, numbers: Numbers, tmp_path: Path
) -> None:
    csv = write_csv(tmp_path / "stock.csv", [f"{numbers[0]},{PIN}", "5"])
    status, out, _ = run(str(csv), "--json", *TARGET)
    assert status == 1
    assert json.loads(out) == {
        "rows": 2,
        "created": 0,
        "existing": 0,
        "rejected": [{"line": 3, "reason": "expected 2 columns, found 1"}],
        "dry_run": False,
    }
    assert_no_secrets(run, numbers)


def test_a_file_on_standard_input(
    aws: None, run: Run, numbers: Numbers, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(f"number,pin\n{numbers[0]},{PIN}\n"))
    status, out, _ = run("-", *TARGET)
    assert status == 0
    assert counts(out)["created"] == 1
    assert stored_state(numbers[0]) is CardState.INACTIVE
    assert_no_secrets(run, numbers)
