"""``giftcard report ...`` and ``giftcard audit ...``: finance's figures from the nightly audit."""

from __future__ import annotations

import argparse

from tools.cli import numbers, output
from tools.cli.context import Context
from tools.cli.failures import EXIT_OK


def _query(args: argparse.Namespace) -> dict[str, str]:
    return {"date": numbers.report_date(args.date)} if args.date else {}


def liability(args: argparse.Namespace, ctx: Context) -> int:
    answer = ctx.api().get("/admin/reports/liability", _query(args))
    ctx.out.show(answer, output.render_liability)
    return EXIT_OK


def dormancy(args: argparse.Namespace, ctx: Context) -> int:
    answer = ctx.api().get("/admin/reports/dormancy", _query(args))
    ctx.out.show(answer, output.render_dormancy)
    return EXIT_OK


def audit_run(args: argparse.Namespace, ctx: Context) -> int:
    ctx.out.show(ctx.api().post("/admin/audit/run", {}), output.render_audit_started)
    return EXIT_OK


def audit_latest(args: argparse.Namespace, ctx: Context) -> int:
    ctx.out.show(ctx.api().get("/admin/audit/latest"), output.render_audit)
    return EXIT_OK
