"""``giftcard card ...``: look up a card, its history, and the operator actions on it."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from tools.cli import numbers, output
from tools.cli.context import Context
from tools.cli.failures import EXIT_OK, EXIT_UNAVAILABLE, CliError

HISTORY_LIMIT = (1, 200)


def _card(args: argparse.Namespace, ctx: Context) -> dict[str, str]:
    return numbers.card_reference(args.card, ctx.stdin, getattr(args, "card_id", None)).body


def show(args: argparse.Namespace, ctx: Context) -> int:
    body = _card(args, ctx)
    ctx.out.show(ctx.api().post("/admin/cards/lookup", body), output.render_card)
    return EXIT_OK


def history(args: argparse.Namespace, ctx: Context) -> int:
    low, high = HISTORY_LIMIT
    if not low <= args.limit <= high:
        raise CliError(f"--limit is {low} to {high}")
    body: dict[str, Any] = {**_card(args, ctx), "limit": args.limit}
    if args.cursor:
        body["cursor"] = args.cursor
    ctx.out.show(ctx.api().post("/admin/cards/history", body), output.render_entries)
    return EXIT_OK


def _action(path: str, args: argparse.Namespace, ctx: Context, **extra: Any) -> int:
    body = {**_card(args, ctx), **extra, "reason": numbers.reason(args.reason)}
    ctx.out.show(ctx.api().post(path, body), output.render_card)
    return EXIT_OK


def freeze(args: argparse.Namespace, ctx: Context) -> int:
    return _action("/admin/cards/freeze", args, ctx)


def unfreeze(args: argparse.Namespace, ctx: Context) -> int:
    return _action("/admin/cards/unfreeze", args, ctx)


def unlock_pin(args: argparse.Namespace, ctx: Context) -> int:
    return _action("/admin/cards/unlock_pin", args, ctx)


def expiry(args: argparse.Namespace, ctx: Context) -> int:
    return _action("/admin/cards/expiry", args, ctx, expires_at=numbers.expiry(args.expiry))


def adjust(args: argparse.Namespace, ctx: Context) -> int:
    amount = numbers.amount(args.amount)
    currency = numbers.currency(args.currency)
    key = args.idempotency_key or str(uuid.uuid4())
    body = {
        **_card(args, ctx),
        "amount": {"value": amount, "currency": currency},
        "reason": numbers.reason(args.reason),
        "idempotency_key": key,
    }
    try:
        answer = ctx.api().post("/admin/cards/adjust", body)
    except CliError as exc:
        if exc.status == EXIT_UNAVAILABLE:
            # The adjustment may or may not have been made: the same key makes a retry safe.
            exc.message += f"; retry safely with --idempotency-key {key}"
        raise
    ctx.out.show(answer, output.render_card)
    return EXIT_OK
