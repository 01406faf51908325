"""The schedule of the local run: the stack runs ``functions/reservation_expiry`` with
EventBridge every ``reservation_expiry_rate_minutes``; the local run calls the same handler from
its main thread (every ``RESERVATION_EXPIRY_RATE_SECONDS``, default 60) until stopped."""

from __future__ import annotations

import importlib
import os
import threading
import uuid

from tools.local_api.gateway import LambdaContext, log_line


def expiry_rate_seconds() -> float:
    """How often the local run releases expired reservations (the stack schedules the same
    handler with EventBridge every ``reservation_expiry_rate_minutes``)."""
    try:
        return max(1.0, float(os.environ.get("RESERVATION_EXPIRY_RATE_SECONDS") or 60))
    except ValueError:
        return 60.0


def run_expiry_job_until(stop: threading.Event, every: float) -> None:
    """Run the real ``reservation_expiry`` handler on a schedule until ``stop`` is set."""
    try:
        job = importlib.import_module("functions.reservation_expiry.handler").lambda_handler
    except ImportError:
        stop.wait()
        return
    while not stop.wait(every):
        try:
            job({"source": "local.schedule"}, LambdaContext("reservation_expiry", uuid.uuid4().hex))
        except Exception as exc:  # the job logs its own failures; keep serving
            log_line("ERROR", "reservation expiry job failed", error=type(exc).__name__)
