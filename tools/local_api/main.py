"""``make run`` (``python -m tools.local_api``): moto, the gateway and the HTTP server started
together, the banner printed, the reservation expiry job run on its schedule until Ctrl-C."""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from botocore.credentials import Credentials

from giftcard.routes import FINANCE, SUPPORT, WEBHOOKS
from giftcard.settings import Settings, get_settings
from tools.console import ConsoleApp
from tools.local_api import events as events_out
from tools.local_api.docs import docs_pages
from tools.local_api.gateway import (
    HOST,
    JSON_TYPE,
    REGION,
    ROOT,
    Gateway,
    ServedRoute,
    load_authorizer,
    load_routes,
)
from tools.local_api.moto_setup import import_stock_file, prepare_environment, provision, start_moto
from tools.local_api.scheduler import expiry_rate_seconds, run_expiry_job_until
from tools.local_api.server import LocalServer
from tools.local_api.sigv4 import (
    ENV_ACCESS_KEY_ID,
    ENV_SECRET_ACCESS_KEY,
    OperatorCredential,
    SigV4Verifier,
    cli_invocation,
    local_operator_credential,
)

#: The local run's recent events (no Lambda in the stack: consumers subscribe to the bus there).
RECENT_EVENTS_PATH = "/admin/events/recent"

#: The local run's second operator, holding the support policy only (generated when unset).
SUPPORT_ACCESS_KEY_ID = "SUPPORT_ACCESS_KEY_ID"
SUPPORT_SECRET_ACCESS_KEY = "SUPPORT_SECRET_ACCESS_KEY"
LOCAL_SUPPORT_ARN = "arn:aws:iam::000000000000:user/local-support"
#: The operator console (tools/console) signing as the local finance operator, and as the local
#: support operator (the read-only look).
CONSOLE_MOUNT = "/console"
SUPPORT_CONSOLE_MOUNT = "/support-console"


def _giftcard() -> str:
    """The giftcard command of this virtualenv (beside the interpreter running the local run)."""
    command = Path(sys.executable).parent / "giftcard"
    if not command.exists():
        return f"{_python()} -m tools.cli"
    try:
        return str(command.relative_to(Path.cwd()))
    except ValueError:
        return str(command)


def _python() -> str:
    executable = Path(sys.executable)
    try:
        return str(executable.relative_to(Path.cwd()))
    except ValueError:
        return str(executable)


def banner(
    base_url: str,
    api_key: str,
    moto_endpoint: str,
    settings: Settings,
    served: list[ServedRoute],
    operator: OperatorCredential | None = None,
    support: OperatorCredential | None = None,
) -> str:
    header = settings.api_key_header
    auth = shlex.quote(f"{header}: Bearer {api_key}")
    lines = [
        "Gift card API, local run (moto for DynamoDB and Secrets Manager)",
        f"  base URL       {base_url}",
        f"  API key        {api_key}    (header {header}: the key or 'Bearer <key>')",
        f"  OpenAPI        {base_url}/openapi.json",
        f"  docs           {base_url}/docs",
        f"  moto endpoint  {moto_endpoint}    (region {REGION}, table {settings.table_name})",
        "  routes         "
        + ", ".join(f"POST {s.route.path}" for s in served if s.route.api == WEBHOOKS),
        "",
        "Import printed card stock (CSV with the header number,pin) into this run:",
        f"  {_giftcard()} stock import cards.csv --endpoint-url {moto_endpoint} "
        f"--region {REGION} --table {shlex.quote(settings.table_name)} "
        f"--keys-secret {shlex.quote(settings.keys_secret_id)}",
        "",
        "Try it (example bodies from docs/examples/; balance and deactivate need a number the",
        "issue call returned, activate a number from imported stock):",
    ]
    for served_route in served:
        route = served_route.route
        if route.api != WEBHOOKS:
            continue
        path = route.path.replace("{instrument_id}", "INSTRUMENT_ID")
        example = ROOT / "docs" / "examples" / f"{route.function}.request.json"
        body = example.read_text(encoding="utf-8").strip() if example.is_file() else "{}"
        lines.append(
            f"  curl -sS -X POST {base_url}{path} -H {auth} "
            f"-H 'Content-Type: {JSON_TYPE}' -d {shlex.quote(body)}"
        )
    if operator is not None:
        lines += [
            "",
            f"Back office (operator API under {base_url}/admin/, SigV4 for service execute-api,",
            f"region {REGION}; local operator {operator.arn}):",
            f"  ADMIN_ACCESS_KEY_ID={operator.access_key_id}",
            f"  ADMIN_SECRET_ACCESS_KEY={operator.secret_access_key}",
            f"  {cli_invocation(operator, base_url, REGION, command=_giftcard())}",
            f"  console        {base_url}{CONSOLE_MOUNT}/    (signed as this finance operator)",
        ]
    if support is not None:
        lines += [
            f"  a support agent (support policy only; {support.arn}):",
            f"  {SUPPORT_ACCESS_KEY_ID}={support.access_key_id}",
            f"  {SUPPORT_SECRET_ACCESS_KEY}={support.secret_access_key}",
            f"  console        {base_url}{SUPPORT_CONSOLE_MOUNT}/    (signed as this support "
            "agent)",
        ]
    lines += ["", "Ctrl-C stops."]
    return "\n".join(lines)


def console_mounts(
    base_url: str, operator: OperatorCredential, support: OperatorCredential
) -> dict[str, Any]:
    """The console at /console (finance) and /support-console (support), calling this run's
    operator API over HTTP with real SigV4 signatures, like ``giftcard console`` does."""
    mounts: dict[str, Any] = {}
    for mount, credential, label in (
        (CONSOLE_MOUNT, operator, "local finance operator"),
        (SUPPORT_CONSOLE_MOUNT, support, "local support agent"),
    ):
        keys = Credentials(credential.access_key_id, credential.secret_access_key)
        app = ConsoleApp(base_url, keys, REGION, mount=mount, label=label)
        mounts[mount] = app.handle
    return mounts


def main() -> int:
    from tools import moto_journal
    from tools.openapi import build_document

    try:
        port = int(os.environ.get("PORT") or 8000)
    except ValueError:
        print("PORT must be a number", file=sys.stderr)
        return 2
    api_key = os.environ.get("API_KEY") or secrets.token_urlsafe(24)
    if not 16 <= len(api_key) <= 512:
        print(
            "API_KEY must be 16 to 512 characters (shorter keys never open the API)",
            file=sys.stderr,
        )
        return 2

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():  # a second Ctrl-C: do not wait for requests in flight
            os._exit(128 + signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        moto = start_moto()
    except moto_journal.MotoShapeError as exc:
        print(f"cannot start the local run: {exc}", file=sys.stderr)
        return 2
    server: LocalServer | None = None
    try:
        moto_host, moto_port = moto.get_host_and_port()
        moto_endpoint = f"http://{moto_host}:{moto_port}"
        prepare_environment(moto_endpoint)
        settings = get_settings()
        provision(settings, api_key)
        if stock := os.environ.get("STOCK_CSV"):
            status = import_stock_file(stock, settings)
            if status:
                return status

        served, warnings = load_routes()
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        try:
            operator, _ = local_operator_credential()
            support, _ = local_operator_credential(
                {
                    ENV_ACCESS_KEY_ID: os.environ.get(SUPPORT_ACCESS_KEY_ID, ""),
                    ENV_SECRET_ACCESS_KEY: os.environ.get(SUPPORT_SECRET_ACCESS_KEY, ""),
                },
                arn=LOCAL_SUPPORT_ARN,
            )
        except ValueError as exc:
            print(f"cannot start the local run: {exc}", file=sys.stderr)
            return 2
        verifier = SigV4Verifier([operator, support], region=REGION)
        # Events out: the table's stream in moto, published by the same code as the stack's
        # publisher; a log line per event, the last 100 at GET /admin/events/recent.
        poller = events_out.start(settings)
        gateway = Gateway(
            settings,
            served,
            load_authorizer(),
            verify_operator=verifier.caller,
            operator_policies={operator.arn: FINANCE, support.arn: SUPPORT},
            operator_pages={
                RECENT_EVENTS_PATH: lambda: poller.recent_json().encode("utf-8"),
            },
        )
        try:
            server = LocalServer((HOST, port), gateway)
        except OSError as exc:
            print(f"cannot listen on {HOST}:{port}: {exc.strerror}", file=sys.stderr)
            return 2
        base_url = f"http://{HOST}:{server.server_address[1]}"
        document = build_document(
            [s.route for s in served if s.route.api == WEBHOOKS],
            server_url=base_url,
            api_key_header=settings.api_key_header,
        )
        server.gateway.pages, docs_warnings = docs_pages(document)
        server.gateway.mounts = console_mounts(base_url, operator, support)
        for warning in docs_warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(
            banner(base_url, api_key, moto_endpoint, settings, served, operator, support),
            flush=True,
        )

        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
        thread.start()
        run_expiry_job_until(stop, expiry_rate_seconds())
        server.shutdown()
        thread.join()
        poller.stop()
        print("Stopped.", flush=True)
        return 0
    finally:
        if server is not None:
            server.server_close()
        moto.stop()
