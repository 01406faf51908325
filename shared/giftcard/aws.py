"""boto3 clients: created lazily on first use, reused across warm invocations.

The endpoint comes from the standard ``AWS_ENDPOINT_URL`` variables (the local run points them at
moto). DynamoDB calls are not retried by botocore: the service's own bounded, jittered retry loop
decides (it must re-read state between attempts), and every call we make is one round trip.

The session's data loader is tuned for cold starts (``giftcard.coldstart.tune_loader``): same
models, same clients.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[str, Any] = {}
#: One boto3 session per process: its data loader parses botocore's service models once for all
#: clients (a session per client would parse them again, ~0.1 s each on a cold start).
_session: Any = None


def client(service: str) -> Any:
    existing = _clients.get(service)
    if existing is not None:
        return existing
    with _lock:
        if service not in _clients:
            from botocore.config import Config

            retries: dict[str, Any] = (
                {"total_max_attempts": 1} if service == "dynamodb" else {"mode": "standard"}
            )
            config = Config(
                connect_timeout=2,
                read_timeout=5,
                retries=retries,  # type: ignore[arg-type]
                tcp_keepalive=True,
                max_pool_connections=64,
            )
            global _session
            if _session is None:
                _session = _new_session()
            _clients[service] = _session.client(service, config=config)
        return _clients[service]


def reset_clients() -> None:
    """Forget cached clients (tests, after starting or stopping a moto mock)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None


def trace_aws_calls() -> bool:
    """Powertools Tracer subsegments on every AWS call (DynamoDB, Secrets Manager): only when the
    stack asks for it (context ``trace_aws_calls``) and X-Ray is on. Off, the X-Ray SDK is never
    imported, so cold starts keep their budget."""
    if os.environ.get("TRACE_AWS_CALLS") != "true":
        return False
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() == "true":
        return False
    from aws_lambda_powertools import Tracer

    Tracer(patch_modules=("botocore",))  # patches botocore's client calls for X-Ray
    return True


def _new_session() -> Any:
    import boto3
    import botocore.session

    from giftcard.coldstart import tune_loader

    trace_aws_calls()
    core = botocore.session.get_session()
    tune_loader(core)
    return boto3.session.Session(botocore_session=core)
