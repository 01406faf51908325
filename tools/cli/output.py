"""What the command prints: rich tables for people, one JSON document for scripts (``--json``),
progress bars and errors on standard error.

Everything shown comes from an API answer or a local count, and those never hold a card number
or PIN (cards are ``card_id`` and ``last4``). Text from the API (reasons, names) is printed as
text, never interpreted as rich markup.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from giftcard import jsonio

#: Width when the output is not a terminal (a file, a pipe): wide enough for a card id in a row.
PIPE_WIDTH = 160
NONE = "-"


def console_for(stream: TextIO) -> Console:
    width = None
    if not stream.isatty() and "COLUMNS" not in os.environ:
        width = PIPE_WIDTH
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


class Output:
    def __init__(self, json_mode: bool, stdout: TextIO, stderr: TextIO) -> None:
        self.json_mode = json_mode
        self.stdout = stdout
        self.stderr = stderr
        self.console = console_for(stdout)
        self.errors = console_for(stderr)

    def json(self, value: Any) -> None:
        self.stdout.write(jsonio.dumps(value) + "\n")
        self.stdout.flush()

    def show(self, answer: Any, render: Any) -> None:
        """``answer`` as JSON with ``--json``, else what ``render(answer)`` makes of it."""
        if self.json_mode:
            self.json(answer)
        else:
            self.console.print(render(answer))

    def line(self, text: str) -> None:
        self.console.print(Text(text), soft_wrap=True)

    def error(self, message: str) -> None:
        self.errors.print(Text(f"error: {message}"), soft_wrap=True)

    def progress(self, *, counted: bool = True) -> Progress:
        return progress_bar(self.errors, counted=counted)


def progress_bar(console: Console, *, counted: bool = True) -> Progress:
    """A progress bar (standard error): drawn live on a terminal; elsewhere its final state is
    printed once."""
    columns: list[Any] = [TextColumn("{task.description}")]
    if counted:
        columns += [
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
    else:
        columns += [SpinnerColumn(), TextColumn("{task.completed:.0f} items"), TimeElapsedColumn()]
    return Progress(*columns, console=console, transient=False)


# Values ------------------------------------------------------------------------------------------


def money(value: Any) -> str:
    """``{"value": 70, "currency": "USD"}`` -> ``70.00 USD`` (the currency's own decimals)."""
    if not isinstance(value, Mapping) or value.get("value") is None:
        return NONE
    currency = str(value.get("currency") or "")
    return f"{amount_text(Decimal(str(value['value'])), currency)} {currency}".strip()


def amount_text(amount: Decimal, currency: str) -> str:
    from giftcard.money import minor_digits

    digits = minor_digits(currency) if currency else None
    if digits is None:
        return format(amount.normalize(), "f")
    return f"{amount.quantize(Decimal(1).scaleb(-digits)):,}"


def text(value: Any) -> str:
    if value is None or value == "":
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _grid(rows: Iterable[tuple[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in rows:
        grid.add_row(Text(name), value if isinstance(value, Text) else Text(text(value)))
    return grid


def _table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, no_wrap=column in ("card_id", "time"), overflow="fold")
    for row in rows:
        table.add_row(*(Text(text(cell)) for cell in row))
    return table


# Cards -------------------------------------------------------------------------------------------


def state_text(card: Mapping[str, Any]) -> str:
    state = text(card.get("state"))
    return f"{state}, FROZEN" if card.get("frozen") else state


def pin_text(pin: Any) -> str:
    if not isinstance(pin, Mapping) or not pin.get("has_pin"):
        return "none"
    parts = [f"{pin.get('failures', 0)} failed"]
    if pin.get("hard_locked"):
        parts.append("LOCKED until an operator unlocks it")
    elif pin.get("locked_until"):
        parts.append(f"locked until {pin['locked_until']}")
    return "set, " + ", ".join(parts)


def render_card(answer: Mapping[str, Any]) -> RenderableType:
    card = answer.get("card") or {}
    frozen = card.get("frozen")
    customer = card.get("customer")
    rows: list[tuple[str, Any]] = [
        ("card_id", card.get("card_id")),
        ("last 4", card.get("last4")),
        ("state", state_text(card)),
        ("balance", money(card.get("balance"))),
        ("held", money(card.get("held"))),
        ("open reservations", card.get("open_reservations")),
        ("PIN", pin_text(card.get("pin"))),
    ]
    if isinstance(frozen, Mapping):
        rows.append(
            (
                "frozen",
                f"{text(frozen.get('reason'))} (by {text(frozen.get('by'))}, "
                f"{text(frozen.get('at'))})",
            )
        )
    rows += [
        ("created", card.get("created_at")),
        ("activated", card.get("activated_at")),
        ("deactivated", card.get("deactivated_at")),
        ("expires", card.get("expires_at") or "never"),
        ("last activity", card.get("last_activity_at")),
    ]
    if isinstance(customer, Mapping):
        who = [customer.get("id"), customer.get("name"), customer.get("email")]
        rows.append(("customer", ", ".join(str(part) for part in who if part)))
    else:
        rows.append(("customer", None))
    parts: list[RenderableType] = [_grid(rows)]
    if "entry" in answer:
        parts.append(render_entries({"entries": [answer["entry"]], "next_cursor": None}))
    return Group(*parts)


def render_entries(answer: Mapping[str, Any]) -> RenderableType:
    entries = answer.get("entries") or []
    table = _table(
        None,
        ["time", "kind", "amount", "balance after", "held after", "by", "reason", "store"],
        (
            [
                entry.get("created_at"),
                entry.get("kind"),
                money(entry.get("amount")),
                money(entry.get("balance_after")),
                money(entry.get("held_after")),
                entry.get("actor"),
                entry.get("reason"),
                entry.get("store_id"),
            ]
            for entry in entries
        ),
    )
    parts: list[RenderableType] = [table if entries else Text("no entries")]
    if answer.get("next_cursor"):
        parts.append(Text(f"older entries: add --cursor {answer['next_cursor']}"))
    return Group(*parts)


def render_cards(answer: Mapping[str, Any]) -> RenderableType:
    cards = answer.get("cards") or []
    if not cards:
        return Text("no cards for this customer")
    return _table(
        None,
        ["card_id", "last 4", "state", "balance", "held", "expires", "last activity"],
        (
            [
                card.get("card_id"),
                card.get("last4"),
                state_text(card),
                money(card.get("balance")),
                money(card.get("held")),
                card.get("expires_at") or "never",
                card.get("last_activity_at"),
            ]
            for card in cards
        ),
    )


def render_erased(answer: Mapping[str, Any]) -> RenderableType:
    count = answer.get("erased_cards", 0)
    return Text(f"customer data erased from {count} card{'s' if count != 1 else ''}")


# Reports and audits ------------------------------------------------------------------------------


def _as_of(answer: Mapping[str, Any]) -> str:
    return f"as of {text(answer.get('as_of'))} (audit {text(answer.get('audit_id'))})"


def render_liability(answer: Mapping[str, Any]) -> RenderableType:
    return _table(
        f"Liability {_as_of(answer)}",
        ["currency", "cards", "spendable", "held", "outstanding"],
        (
            [
                row.get("currency"),
                row.get("cards"),
                money(row.get("spendable")),
                money(row.get("held")),
                money(row.get("outstanding")),
            ]
            for row in answer.get("currencies") or []
        ),
    )


def render_dormancy(answer: Mapping[str, Any]) -> RenderableType:
    return _table(
        f"Dormancy {_as_of(answer)}",
        ["currency", "since last activity", "cards", "outstanding"],
        (
            [
                row.get("currency"),
                bucket.get("bucket"),
                bucket.get("cards"),
                money(bucket.get("outstanding")),
            ]
            for row in answer.get("currencies") or []
            for bucket in row.get("buckets") or []
        ),
    )


def render_audit(answer: Mapping[str, Any]) -> RenderableType:
    mismatches = answer.get("mismatches") or []
    expiring = answer.get("expiring") or {}
    summary = _grid(
        [
            ("audit", answer.get("audit_id")),
            ("as of", answer.get("as_of")),
            ("finished", answer.get("finished_at")),
            ("cards checked", answer.get("cards_checked")),
            ("entries checked", answer.get("entries_checked")),
            ("mismatches", len(mismatches)),
            ("expiring in 30 days", expiring.get("30d")),
            ("expiring in 90 days", expiring.get("90d")),
        ]
    )
    parts: list[RenderableType] = [summary]
    if mismatches:
        parts.append(
            _table(
                "Mismatches",
                ["card_id", "problem"],
                ([m.get("card_id"), m.get("problem")] for m in mismatches),
            )
        )
    if isinstance(answer.get("liability"), Mapping):
        parts.append(render_liability(answer["liability"]))
    if isinstance(answer.get("dormancy"), Mapping):
        parts.append(render_dormancy(answer["dormancy"]))
    return Group(*parts)


def render_audit_started(answer: Mapping[str, Any]) -> RenderableType:
    status = text(answer.get("status"))
    lines = [f"audit {text(answer.get('audit_id'))}: {status}"]
    if status != "finished":
        lines.append("see the result with: giftcard audit latest")
    return Text("\n".join(lines))
