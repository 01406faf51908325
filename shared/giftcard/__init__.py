"""Gift card provider for NewStore: the code of the shared Lambda layer.

Two cold-start measures live here because this module runs before anything else of the service
(every handler imports ``giftcard.<something>`` first):

- the service uses no pydantic plugins, so pydantic's entry-point scan (``importlib.metadata``,
  ~20 ms) is skipped;
- in Lambda, the garbage collector is paused while modules, classes and botocore's models are
  built (all long-lived: collecting them is wasted work) and turned back on, with those objects
  frozen out of future collections, by ``cold_start_done()`` once the first invocation has built
  its services. Elsewhere (tests, the local run) collection is never paused.
"""

from __future__ import annotations

import gc
import os

os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

#: True inside AWS Lambda (the runtime sets this variable); never in tests or the local run.
IN_LAMBDA = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))

_gc_paused = IN_LAMBDA and gc.isenabled()
if _gc_paused:
    gc.disable()


def cold_start_done() -> None:
    """End of the cold start: freeze what was built and collect garbage from now on."""
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.freeze()
        gc.enable()
