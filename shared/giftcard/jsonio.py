"""JSON in and out with exact decimals.

Requests are parsed with every number as ``Decimal`` (no float ever touches an amount) and
``NaN``/``Infinity`` refused. Responses are written by a small encoder that prints ``Decimal``
as a plain JSON number (``25.5``, ``100``, ``0``) and keeps key order, so a stored response can
be replayed byte for byte.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


class JSONError(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise JSONError(f"{name} is not a JSON number")


def loads(text: str | bytes) -> Any:
    try:
        value = json.loads(
            text, parse_float=Decimal, parse_int=Decimal, parse_constant=_refuse_constant
        )
    except RecursionError as exc:
        raise JSONError("JSON nested too deeply") from exc
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
