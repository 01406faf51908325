"""``giftcard customer ...``: a customer's cards, and erasing a customer's data."""

from __future__ import annotations

import argparse

from tools.cli import numbers, output
from tools.cli.context import Context
from tools.cli.failures import EXIT_OK


def cards(args: argparse.Namespace, ctx: Context) -> int:
    body = {"customer_id": numbers.customer_id(args.customer_id, ctx.stdin)}
    ctx.out.show(ctx.api().post("/admin/customers/cards", body), output.render_cards)
    return EXIT_OK


def erase(args: argparse.Namespace, ctx: Context) -> int:
    body = {
        "customer_id": numbers.customer_id(args.customer_id, ctx.stdin),
        "reason": numbers.reason(args.reason),
    }
    ctx.out.show(ctx.api().post("/admin/customers/erase", body), output.render_erased)
    return EXIT_OK
