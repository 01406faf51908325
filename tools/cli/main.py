"""``giftcard``: the command line for the retailer's support, fraud and finance people.

Options that say where and how (``--url``/``--stack``, ``--profile``, ``--region``, ``--json``)
are accepted before or after the command. Exit status: see ``tools.cli.failures``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from tools.cli import bulk
from tools.cli.failures import ApiError, CliError

if TYPE_CHECKING:
    from tools.cli.context import Context

Command = Callable[[argparse.Namespace, "Context"], int]

DESCRIPTION = (
    "Gift card back office: look up and act on cards through the operator API (signed with your "
    "own AWS credentials), read the audit's reports, open the operator console in a browser, "
    "import printed stock, make print runs and export cards. Card numbers may be given with "
    "spaces or dashes, or as '-' to read them from standard input (kept out of shell history); "
    "they are never printed."
)
EPILOG = (
    "Exit status: 0 done; 1 refused by the service (the message says why) or stock rows "
    "rejected; 2 unusable input (arguments, number, file, credentials); 3 the service or AWS "
    "failed or could not be reached (safe to run again). See docs/operations.md."
)


def _common(suppress: bool) -> argparse.ArgumentParser:
    """Where and how: on the top-level parser (with defaults) and on every command (without, so a
    value given before the command is kept)."""
    default = argparse.SUPPRESS if suppress else None
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("where and how")
    group.add_argument("--url", default=default, help="operator API base URL")
    group.add_argument(
        "--stack",
        metavar="NAME",
        default=default,
        help="CloudFormation stack: reads OperatorApiUrl (and TableName, KeyMaterialSecretArn for "
        "the bulk commands) from its outputs",
    )
    group.add_argument("--profile", default=default, help="AWS profile (standard chain otherwise)")
    group.add_argument("--region", default=default, help="AWS region (signing and stack)")
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print the answer as JSON for scripts",
    )
    return common


def _card_argument(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    help_text = "card number (spaces, dashes allowed), '-' to read it from stdin, or a c_ card id"
    if optional:
        parser.add_argument("card", metavar="NUMBER", nargs="?", help=help_text)
        parser.add_argument("--card-id", metavar="ID", help="the card's id (c_...) instead")
    else:
        parser.add_argument("card", metavar="NUMBER", help=help_text)


def _reason(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reason",
        required=True,
        metavar="R",
        help="why (3-200 characters, recorded with your identity; no card numbers)",
    )


def build_parser() -> argparse.ArgumentParser:
    from tools.cli import card, console, customer, export, report, stock

    parser = argparse.ArgumentParser(
        prog="giftcard", description=DESCRIPTION, epilog=EPILOG, parents=[_common(False)]
    )
    parents = [_common(True)]
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)

    def command(
        sub: argparse._SubParsersAction,  # type: ignore[type-arg]
        name: str,
        run: Command,
        help_text: str,
    ) -> argparse.ArgumentParser:
        leaf: argparse.ArgumentParser = sub.add_parser(
            name, help=help_text, description=help_text, parents=parents
        )
        leaf.set_defaults(run=run)
        return leaf

    # card -------------------------------------------------------------------------------------
    cards_group = groups.add_parser("card", help="one card: look up, history, operator actions")
    card_sub = cards_group.add_subparsers(dest="action", metavar="ACTION", required=True)
    leaf = command(card_sub, "show", card.show, "show a card (state, balance, PIN, frozen)")
    _card_argument(leaf, optional=True)
    leaf = command(card_sub, "history", card.history, "a card's entries, newest first")
    _card_argument(leaf, optional=True)
    leaf.add_argument("--limit", type=int, default=50, help="entries per page (1-200)")
    leaf.add_argument("--cursor", help="the page after this cursor (printed with each page)")
    for name, run, text in (
        ("freeze", card.freeze, "block new spending and loading (captures, refunds still work)"),
        ("unfreeze", card.unfreeze, "lift a freeze"),
        ("unlock-pin", card.unlock_pin, "clear PIN failures, lock and hard lock"),
    ):
        leaf = command(card_sub, name, run, text)
        _card_argument(leaf, optional=True)
        _reason(leaf)
    leaf = command(card_sub, "adjust", card.adjust, "correct a balance (active cards only)")
    _card_argument(leaf)
    leaf.add_argument("amount", metavar="AMOUNT", help="signed, in major units: 25, -12.50")
    leaf.add_argument("currency", metavar="CURRENCY", help="the card's currency, e.g. USD")
    _reason(leaf)
    leaf.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="repeat a failed adjustment safely (default: a new key)",
    )
    leaf = command(card_sub, "expiry", card.expiry, "set or clear a card's expiry")
    _card_argument(leaf)
    leaf.add_argument(
        "expiry",
        metavar="DATE|none",
        help="YYYY-MM-DD (usable through that day, UTC), a UTC time, or none",
    )
    _reason(leaf)

    # customer -----------------------------------------------------------------------------------
    customer_group = groups.add_parser("customer", help="a customer's cards; erasure")
    customer_sub = customer_group.add_subparsers(dest="action", metavar="ACTION", required=True)
    leaf = command(customer_sub, "cards", customer.cards, "the cards of a customer")
    leaf.add_argument("customer_id", metavar="CUSTOMER_ID", help="the id, or '-' for stdin")
    leaf = command(
        customer_sub, "erase", customer.erase, "erase a customer's data from all their cards"
    )
    leaf.add_argument("customer_id", metavar="CUSTOMER_ID", help="the id, or '-' for stdin")
    _reason(leaf)

    # report, audit ------------------------------------------------------------------------------
    report_group = groups.add_parser("report", help="liability and dormancy (from the audit)")
    report_sub = report_group.add_subparsers(dest="action", metavar="REPORT", required=True)
    for name, run, text in (
        ("liability", report.liability, "outstanding value per currency"),
        ("dormancy", report.dormancy, "cards and value by time since last activity"),
    ):
        leaf = command(report_sub, name, run, text)
        leaf.add_argument("--date", metavar="D", help="YYYY-MM-DD (default: the latest audit)")
    audit_group = groups.add_parser("audit", help="the reconciliation audit")
    audit_sub = audit_group.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(audit_sub, "run", report.audit_run, "start an audit now")
    command(audit_sub, "latest", report.audit_latest, "the latest audit's result")

    # console --------------------------------------------------------------------------------
    leaf = command(
        groups,
        "console",
        console.console,
        "the operator console: the back office in your browser, served on 127.0.0.1 and signed "
        "with your AWS credentials until Ctrl-C",
    )
    console.add_options(leaf)

    # stock, cards export (direct table access) ------------------------------------------------
    stock_group = groups.add_parser("stock", help="printed card stock: import, print runs")
    stock_sub = stock_group.add_subparsers(dest="action", metavar="ACTION", required=True)
    leaf = command(
        stock_sub,
        "import",
        stock.import_,
        "import printed stock (CSV 'number,pin', pin may be empty) as inactive cards; a file "
        "with a rejected row writes nothing, a re-run counts existing cards",
    )
    leaf.add_argument("file", metavar="FILE.csv", help="the stock file ('-' reads stdin)")
    leaf.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
    bulk.add_options(leaf)
    leaf = command(
        stock_sub,
        "generate",
        stock.generate,
        "a print run: COUNT new numbers and PINs, imported as inactive stock and written to a "
        "file only you can read; run it again to finish an interrupted run",
    )
    leaf.add_argument("count", metavar="COUNT", type=int, help="cards in the print run")
    leaf.add_argument("--out", required=True, metavar="FILE.csv", help="the print shop's file")
    leaf.add_argument("--prefix", help="number prefix (default: the service's, 7777)")
    leaf.add_argument("--length", type=int, help="digits per number (default 16)")
    leaf.add_argument("--pin-length", type=int, help="digits per PIN (default 4)")
    bulk.add_options(leaf)
    export_group = groups.add_parser("cards", help="all cards: export")
    export_sub = export_group.add_subparsers(dest="action", metavar="ACTION", required=True)
    leaf = command(
        export_sub,
        "export",
        export.export,
        "every card as CSV (card_id, last4, state, money, times; never a number)",
    )
    leaf.add_argument("file", metavar="FILE.csv", help="where to write ('-' for stdout)")
    bulk.add_options(leaf, keys=False)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    from tools.cli.context import Context
    from tools.cli.output import Output

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.url and args.stack:
        parser.error("give --url or --stack, not both")
    if args.stack and (getattr(args, "table", None) or getattr(args, "keys_secret", None)):
        parser.error("--stack reads the table and the secret: do not combine it with them")
    out = Output(args.json, stdout or sys.stdout, stderr or sys.stderr)
    context = Context(args, out, stdin or sys.stdin)
    try:
        status: int = args.run(args, context)
        return status
    except ApiError as exc:
        if out.json_mode:
            out.json(exc.envelope)
        out.error(f"{exc.message} ({exc.error_code}, HTTP {exc.http_status})")
        return exc.status
    except CliError as exc:
        out.error(exc.message)
        return exc.status
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
