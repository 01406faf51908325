"""``giftcard console [--port N] [--no-browser]``: the operator console (tools/console) on
127.0.0.1, signing with the same credentials, region and operator API the other commands use
(``--url`` or ``--stack``, ``--profile``, ``--region``). It runs until Ctrl-C."""

from __future__ import annotations

import argparse

from tools.cli.client import operator_client
from tools.cli.context import Context
from tools.cli.failures import EXIT_OK, CliError


def console(args: argparse.Namespace, ctx: Context) -> int:
    from tools.console import ConsoleApp, serve

    # The CLI's own resolution: no credentials at all fails here (exit 2), like every command;
    # credentials the API refuses (wrong, expired) are for the console's error page to explain.
    client = operator_client(args.url, args.stack, args.profile, args.region)
    app = ConsoleApp(client.base_url, client.credentials, client.region, label=args.stack or "")
    try:
        serve(app, args.port, open_browser=not args.no_browser, announce=ctx.out.line)
    except OSError as exc:
        # Only the listening socket can fail here (serve stops quietly on Ctrl-C).
        reason = exc.strerror or type(exc).__name__
        raise CliError(f"cannot serve the console on 127.0.0.1:{args.port} ({reason})") from exc
    return EXIT_OK


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=0, help="local port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the console's address, open no browser"
    )
