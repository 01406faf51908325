"""Time, in one place, so tests can move it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Instant:
    epoch: float

    @property
    def seconds(self) -> int:
        return int(self.epoch)

    @property
    def iso(self) -> str:
        """UTC, ISO 8601 to the second, ending in Z (what responses carry)."""
        return datetime.fromtimestamp(self.seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def iso_micro(self) -> str:
        """Sortable, to the microsecond (ledger entry keys)."""
        return datetime.fromtimestamp(self.epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def plus(self, seconds: float) -> Instant:
        return Instant(self.epoch + seconds)


class Clock:
    def now(self) -> Instant:
        return Instant(time.time())


class FixedClock(Clock):
    """A clock tests can set and advance."""

    def __init__(self, epoch: float) -> None:
        self.epoch = epoch

    def now(self) -> Instant:
        return Instant(self.epoch)

    def advance(self, seconds: float) -> None:
        self.epoch += seconds
