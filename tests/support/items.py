"""DynamoDB's item size rules, applied to items as the low-level client returns them.

An item's size is the sum over its attributes of the name's UTF-8 length plus the value's size:
strings in UTF-8 bytes, binary in bytes, numbers about one byte per two significant digits plus
one, booleans and nulls one byte, lists and maps three bytes plus one per element plus their
contents. A write is billed per started KB (1 WCU, 2 inside a transaction).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any


def number_size(text: str) -> int:
    value = Decimal(text)
    if value.is_zero():
        return 1
    digits = "".join(str(d) for d in value.as_tuple().digits).strip("0")
    return math.ceil(len(digits) / 2) + 1 + (1 if value < 0 else 0)


def value_size(value: Mapping[str, Any]) -> int:
    (kind, content), *_ = value.items()
    if kind == "S":
        return len(content.encode("utf-8"))
    if kind == "N":
        return number_size(content)
    if kind == "B":
        return len(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in content)
    if kind == "NS":
        return sum(number_size(n) for n in content)
    if kind == "BS":
        return sum(len(b) for b in content)
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + item_size({name: element}) for name, element in content.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes DynamoDB counts for ``item`` (low-level format: ``{"name": {"S": "..."}}``)."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def largest_by_type(items: Iterable[Mapping[str, Mapping[str, Any]]]) -> dict[str, int]:
    """Largest item size per stored kind (the ``type`` attribute: card, entry, record, ...)."""
    largest: dict[str, int] = {}
    for item in items:
        kind = item.get("type", {}).get("S", "other")
        largest[kind] = max(largest.get(kind, 0), item_size(item))
    return largest
