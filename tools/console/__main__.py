"""``python -m tools.console --url URL [--region R] [--profile P] [--port N] [--no-browser]``:
the console against an operator API, signing with the standard AWS credential chain (the
``giftcard console`` command does the same, with ``--stack`` too)."""

from __future__ import annotations

import argparse
import sys

from tools.cli.client import signing_region
from tools.console.app import ConsoleApp
from tools.console.server import credentials_from_chain, region_from_chain, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.console", description=__doc__)
    parser.add_argument("--url", required=True, help="the operator API's base URL")
    parser.add_argument("--region", help="signing region (default: from the URL or the profile)")
    parser.add_argument("--profile", help="AWS profile (default: the standard chain)")
    parser.add_argument("--port", type=int, default=0, help="local port (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open the browser")
    args = parser.parse_args(argv)
    region = signing_region(args.url, args.region, region_from_chain(args.profile))
    app = ConsoleApp(args.url, credentials_from_chain(args.profile), region)
    serve(app, args.port, open_browser=not args.no_browser)
    return 0


if __name__ == "__main__":
    sys.exit(main())
