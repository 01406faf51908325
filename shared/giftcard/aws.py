"""boto3 clients: created lazily on first use, reused across warm invocations.

The endpoint comes from the standard ``AWS_ENDPOINT_URL`` variables (the local run points them at
moto). DynamoDB calls are not retried by botocore: the service's own bounded, jittered retry loop
decides (it must re-read state between attempts), and every call we make is one round trip.

Creating a client, botocore checks that the service exists by listing every service it has data
for: a walk of its ~420 model folders, once for the service model and once for the endpoint
rules, ~11 ms of every cold start (boto/botocore#3687 drops it upstream). The session's data
loader here checks the requested service's own folder instead; a name it does not find still
gets botocore's full check and its ``UnknownServiceError``. Same models, same clients.
"""

from __future__ import annotations

import functools
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


def _new_session() -> Any:
    import boto3
    import botocore.session
    from botocore.loaders import Loader

    core = botocore.session.get_session()
    loader = core.get_component("data_loader")
    if type(loader) is Loader:  # botocore's own (tests share one across sessions)
        loader.__class__ = _direct_loader()
    return boto3.session.Session(botocore_session=core)


#: The service whose model is being loaded, per thread (see ``_direct_loader``).
_loading = threading.local()


@functools.cache
def _direct_loader() -> type:
    from botocore.loaders import Loader

    class DirectLoader(Loader):
        """botocore's loader; ``load_service_model`` checks only the requested service."""

        def load_service_model(
            self, service_name: str, type_name: str, api_version: Any = None
        ) -> Any:
            outer = getattr(_loading, "service", None)
            _loading.service = service_name
            try:
                return super().load_service_model(service_name, type_name, api_version)
            finally:
                _loading.service = outer

        def list_available_services(self, type_name: str) -> Any:
            # Called by load_service_model only to check that the service exists.
            service = getattr(_loading, "service", None)
            if service is not None:
                try:
                    found = bool(self.list_api_versions(service, type_name))  # its folder only
                except Exception:  # not there (or a botocore that differs): the full check
                    found = False
                if found:
                    return [service]
            return super().list_available_services(type_name)

    return DirectLoader
