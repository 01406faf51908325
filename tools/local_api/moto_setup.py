"""moto for the local run: DynamoDB and Secrets Manager on loopback, provisioned like the stack.

``start_moto`` installs ``tools/moto_journal`` (moto copies whole tables per transaction: a print
run of real size needs the journal) and serializes moto's server (see ``Serialized``);
``prepare_environment`` points every boto3 client of the process at it with fake credentials,
whatever the shell has configured; ``provision`` creates the table and the two secrets;
``import_stock_file`` imports ``STOCK_CSV`` at start.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from giftcard import table
from giftcard.observability import quiet_sdk_loggers
from giftcard.settings import Settings
from tools.local_api.gateway import HOST, REGION

#: Fake credentials: boto3 signs every request, moto accepts any signature.
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
#: Never reach a real account from the local run, whatever the shell has configured.
UNSET_AWS_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


def start_moto() -> Any:
    """A started, serialized ``ThreadedMotoServer`` on a free loopback port, journal installed.

    Raises ``moto_journal.MotoShapeError`` when the installed moto is not the one the journal
    was written for.
    """
    from moto.server import ThreadedMotoServer

    from tools import moto_journal

    # moto copies whole tables per transaction: a print run of real size needs the journal.
    moto_journal.install()
    # moto's werkzeug server would log every DynamoDB call on stderr.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # botocore at DEBUG would print the secrets' values (also done when the service loads).
    quiet_sdk_loggers()
    moto = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    moto.start()
    try:
        serialize_moto(moto)
    except RuntimeError:
        moto.stop()
        raise
    return moto


class Serialized:
    """A WSGI app that handles one request at a time.

    DynamoDB applies each request atomically; moto does not under concurrent requests (a
    transaction checks, writes, and on failure restores what it touched while another request
    changes the same items: two conditional writes can both pass). One request at a time makes
    moto's answers DynamoDB's.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self.lock:
            return list(self.app(environ, start_response))


def serialize_moto(moto: Any) -> None:
    server = moto._server  # ThreadedMotoServer keeps its werkzeug server here
    if server is None or not hasattr(server, "app"):
        raise RuntimeError("unexpected moto version: cannot serialize its server")
    server.app = Serialized(server.app)


def prepare_environment(moto_endpoint: str) -> None:
    """Point every boto3 client of this process at moto, before any client exists."""
    from giftcard import http

    for name in UNSET_AWS_ENV:
        os.environ.pop(name, None)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            del os.environ[name]
    os.environ.update(LOCAL_AWS_ENV)
    os.environ["AWS_ENDPOINT_URL"] = moto_endpoint
    # moto is on loopback: never through a proxy the shell may have configured.
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = ",".join(filter(None, [os.environ.get(name), HOST, "localhost"]))
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "giftcard")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "GiftCards")
    http.reset()


def provision(settings: Settings, api_key: str) -> None:
    """The table (same key schema as the stack) and the two secrets, in moto."""
    from giftcard.aws import client

    client("dynamodb").create_table(**table.create_table_kwargs(settings.table_name))
    secretsmanager = client("secretsmanager")
    secretsmanager.create_secret(
        Name=settings.keys_secret_id,
        SecretString=json.dumps({"master": secrets.token_urlsafe(48)[:64]}),
    )
    secretsmanager.create_secret(
        Name=settings.api_keys_secret_id,
        SecretString=json.dumps({"keys": [{"id": "local", "key": api_key}]}),
    )


def import_stock_file(path: str, settings: Settings) -> int:
    """Import STOCK_CSV; 0 when every row was accepted (the report is printed either way)."""
    from giftcard.keys import key_material
    from giftcard.repository import Repository
    from giftcard.stock import StockFileError, import_stock
    from tools.cli.stock import StockProgress as Progress
    from tools.cli.stock import report_lines

    progress = Progress(sys.stderr)
    began = time.monotonic()
    try:
        with open(path, encoding="utf-8-sig", newline="") as lines:
            report = import_stock(
                lines,
                Repository(settings.table_name),
                key_material(settings.keys_secret_id, 0),
                progress=progress,
            )
    except (OSError, UnicodeDecodeError, StockFileError) as exc:
        print(f"STOCK_CSV {path}: {exc}", file=sys.stderr)
        return 2
    finally:
        progress.finish()
    print(f"Printed card stock from {path} (imported in {time.monotonic() - began:.1f} s):")
    for line in report_lines(report):
        print(f"  {line}")
    return 0 if report.ok else 1
