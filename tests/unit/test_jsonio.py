"""The JSON reader's input guards, tested here and not only by the reliability suites: text that
is valid JSON syntax but not valid Unicode is refused at the door."""

from __future__ import annotations

from decimal import Decimal

import pytest

from giftcard.jsonio import JSONError, dumps, format_decimal, loads


@pytest.mark.parametrize(
    "text",
    [
        '"\\ud800"',
        '{"pin": "\\udfff"}',
        '{"\\ud83d": 1}',
        '[1, ["ok", {"deep": ["\\ud800x"]}]]',
    ],
)
def test_a_lone_surrogate_anywhere_is_refused(text: str) -> None:
    # "\ud800" is valid JSON syntax but no character: echoing or storing it would fail later
    with pytest.raises(JSONError):
        loads(text)


def test_a_surrogate_pair_is_one_character_and_accepted() -> None:
    assert loads('{"name": "\\ud83d\\ude00", "n": 1}') == {"name": "\U0001f600", "n": Decimal(1)}


def test_what_cannot_be_written_names_itself() -> None:
    # a float or a NaN reaching the writer is a bug: the error says which value it was
    with pytest.raises(TypeError, match=r"^cannot write float as JSON$"):
        dumps({"value": 25.5})
    with pytest.raises(ValueError, match=r"^not a finite number$"):
        format_decimal(Decimal("NaN"))
