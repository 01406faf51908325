"""JSON in and out with exact decimals.

Requests are parsed with every number as ``Decimal`` (no float ever touches an amount) and
``NaN``/``Infinity`` refused. Responses are written by a small encoder that prints ``Decimal``
as a plain JSON number (``25.5``, ``100``, ``0``) and keeps key order, so a stored response can
be replayed byte for byte.

A number parsed from a request is a ``Number``: a ``Decimal`` that remembers its literal, so a
free-form field (payment metadata) is echoed exactly as it was written: ``1E+999`` is five
characters, never a thousand digits. Absurd literals (more than ``MAX_NUMBER_DIGITS`` digits, an
exponent beyond ``MAX_NUMBER_EXPONENT``) are refused when parsed (contract: "Free-form fields").
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


#: A request's number literal may have at most this many digits...
MAX_NUMBER_DIGITS = 100
#: ...and an exponent (``e``/``E`` part) of at most this magnitude (contract: "Free-form fields").
MAX_NUMBER_EXPONENT = 1000


class JSONError(ValueError):
    pass


class AbsurdNumber(JSONError):
    """A number literal over the limits: refused as ``invalid_request``."""


class Number(Decimal):
    """A request's JSON number: its exact value, and ``literal``, the text it was written as."""

    __slots__ = ("literal",)
    literal: str


def _number(literal: str) -> Number:
    mantissa, _, exponent = literal.replace("E", "e").partition("e")
    digits = len(mantissa) - mantissa.startswith("-") - ("." in mantissa)
    if digits > MAX_NUMBER_DIGITS:
        raise AbsurdNumber(f"a number has more than {MAX_NUMBER_DIGITS} digits")
    magnitude = exponent.lstrip("+-").lstrip("0")
    # Length first: int() of a 5,000-digit exponent would itself be refused by Python.
    if len(magnitude) > len(str(MAX_NUMBER_EXPONENT)) or int(magnitude or 0) > MAX_NUMBER_EXPONENT:
        raise AbsurdNumber(f"a number has an exponent beyond +-{MAX_NUMBER_EXPONENT}")
    number = Number(literal)
    number.literal = literal
    return number


def _refuse_constant(name: str) -> Any:
    raise JSONError(f"{name} is not a JSON number")


def loads(text: str | bytes) -> Any:
    try:
        value = json.loads(
            text, parse_float=_number, parse_int=_number, parse_constant=_refuse_constant
        )
    except RecursionError as exc:
        raise JSONError("JSON nested too deeply") from exc
    except JSONError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise JSONError("not valid JSON") from exc
    if not _valid_text(value):
        raise JSONError("a string is not valid Unicode")
    return value


def _valid_text(value: Any) -> bool:
    """No lone surrogate (``"\\ud800"`` is valid JSON syntax but no character) in any key or
    string: such text cannot be encoded, so echoing or storing it would fail after the fact."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def format_decimal(value: Decimal) -> str:
    """``Decimal`` as a JSON number, no exponent or trailing zeros: 25.50 -> 25.5, 1E+2 -> 100."""
    if not value.is_finite():
        raise ValueError("not a finite number")
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def dumps(value: Any) -> str:
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, Number):
        out.append(value.literal)  # echoed as written (and valid JSON: it was parsed as JSON)
    elif isinstance(value, Decimal):
        out.append(format_decimal(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(", ")
            out.append(_encode_string(str(key)))
            out.append(": ")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(", ")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
