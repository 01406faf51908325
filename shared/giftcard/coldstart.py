"""Cold-start measures: everything the service does only to start faster, in one place.

A Lambda's first request pays for imports, class creation and client set-up (INIT). These
measures make that cheaper without changing what the service does. Each one is small and
replaceable; all of them are behind one switch, ``GIFTCARD_COLD_START_TUNING`` (default on; ``0``
turns every one off, e.g. to measure what they buy with ``make bench``). What each buys was
measured by ``make bench``'s cold-start table on this project's layer (CPU ms per cold start):

- **pydantic's plugin scan skipped** (``PYDANTIC_DISABLE_PLUGINS``): the service uses no plugin;
  the scan reads every installed distribution's entry points (``importlib.metadata``), ~20 ms.
- **garbage collector paused during a Lambda's cold start**: modules, classes and botocore's
  models are long-lived, so collecting while they are built is wasted work; the collector is
  turned back on by ``cold_start_done()`` once the first invocation built its services, with
  those objects frozen out of future collections. Part of the 1.6 -> 1.35 step of the cold-start
  ratio (docs/performance.md). Only in Lambda: tests and the local run never pause it.
- **botocore's data loader checks only the requested service's folder** (``direct_loader``):
  creating a client otherwise lists all ~420 service folders, twice, ~11 ms (boto/botocore#3687
  proposes the same upstream). A name it does not find still gets botocore's full check and its
  ``UnknownServiceError``; any other botocore loader class is left alone.

``giftcard/__init__.py`` calls ``start()`` first thing, because every handler imports ``giftcard``
before anything else.
"""

from __future__ import annotations

import functools
import gc
import os
import threading
from typing import Any

#: True inside AWS Lambda (the runtime sets this variable); never in tests or the local run.
IN_LAMBDA = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
#: The one switch.
ENABLED = os.environ.get("GIFTCARD_COLD_START_TUNING", "1").strip() != "0"

_gc_paused = False


def start() -> None:
    """Apply the measures that must come before any other import of the service."""
    global _gc_paused
    if not ENABLED:
        return
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if IN_LAMBDA and gc.isenabled():
        gc.disable()
        _gc_paused = True


def cold_start_done() -> None:
    """End of the cold start: freeze what was built and collect garbage from now on."""
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.freeze()
        gc.enable()


def tune_loader(core_session: Any) -> None:
    """Give a botocore session the loader that checks only the requested service's folder."""
    from botocore.loaders import Loader

    loader = core_session.get_component("data_loader")
    if ENABLED and type(loader) is Loader:  # botocore's own (tests share one across sessions)
        loader.__class__ = direct_loader()


#: The service whose model is being loaded, per thread (see ``direct_loader``).
_loading = threading.local()


@functools.cache
def direct_loader() -> type:
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
