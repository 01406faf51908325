"""A parallel scan of the whole table: segments in threads, throttling survived.

Part of the repository family: pages come from ``Repository.scan_page``; this module only runs
the segments and decides when to retry. For the audit (``giftcard.audit_job``) and exports; never
on a request path.

- Each segment is read page after page, continuing from the page's ``LastEvaluatedKey``. A page
  that fails with throttling or no answer (``StorageBusy``) is asked again with the same start
  key, after a full-jitter exponential backoff, at most ``max_attempts`` times in a row: the
  segment resumes where it was, never from its beginning, and an item is handed on only once,
  from the one successful answer for its page. A segment that stays throttled past the budget
  raises ``ScanFailed`` and the other segments stop at their next page.
- ``map(work)`` runs ``work(items of segment i)`` for every segment in its own thread and returns
  the results in segment order: with a pure ``work`` whose results combine (``giftcard.audit``),
  the outcome does not depend on the threads' timing.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

from giftcard.repository import Repository
from giftcard.writes import StorageBusy

T = TypeVar("T")

#: DynamoDB's own limit on TotalSegments.
MAX_SEGMENTS = 1_000_000


class ScanFailed(StorageBusy):
    """A segment stayed throttled (or unanswered) past the retry budget; nothing is concluded."""


class ScanStopped(Exception):
    """Another segment failed: this one stops at its next page."""


@dataclass
class ScanStats:
    pages: int = 0
    items: int = 0
    retries: int = 0


class ParallelScan:
    def __init__(
        self,
        repository: Repository,
        segments: int,
        *,
        max_attempts: int = 8,
        base_delay: float = 0.05,
        max_delay: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        page_limit: int | None = None,
        consistent: bool = True,
    ) -> None:
        if not 1 <= segments <= MAX_SEGMENTS:
            raise ValueError(f"segments must be within 1..{MAX_SEGMENTS}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.repository = repository
        self.segments = segments
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.page_limit = page_limit
        self.consistent = consistent
        self.stats = [ScanStats() for _ in range(segments)]
        self._stop = threading.Event()

    def _page(
        self, segment: int, start: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        stats = self.stats[segment]
        for attempt in range(self.max_attempts):
            if self._stop.is_set():
                raise ScanStopped()
            try:
                page = self.repository.scan_page(
                    segment,
                    self.segments,
                    start,
                    consistent=self.consistent,
                    limit=self.page_limit,
                )
            except StorageBusy as exc:
                if attempt + 1 == self.max_attempts:
                    raise ScanFailed(f"segment {segment}: {self.max_attempts} attempts") from exc
                stats.retries += 1
                self.sleep(random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt)))
                continue
            stats.pages += 1
            stats.items += len(page[0])
            return page
        raise AssertionError("unreachable")  # pragma: no cover

    def items(self, segment: int) -> Iterator[dict[str, Any]]:
        """Every item of one segment, in scan order (pages joined)."""
        start: dict[str, Any] | None = None
        while True:
            items, start = self._page(segment, start)
            yield from items
            if start is None:
                return

    def map(self, work: Callable[[Iterator[dict[str, Any]]], T]) -> list[T]:
        """``work`` over every segment's items, each segment in its own thread; results in segment
        order. The first failure stops the other segments and is raised."""
        self.repository.client  # noqa: B018  (built once, before the threads share it)
        if self.segments == 1:
            return [work(self.items(0))]
        with ThreadPoolExecutor(max_workers=self.segments, thread_name_prefix="scan") as pool:
            futures = [pool.submit(work, self.items(segment)) for segment in range(self.segments)]
            done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in done if f.exception() is not None), None)
            if failed is not None:
                self._stop.set()
                wait(futures)
                error = failed.exception()
                assert error is not None
                raise error
            return [future.result() for future in futures]

    @property
    def retries(self) -> int:
        return sum(stats.retries for stats in self.stats)

    @property
    def pages(self) -> int:
        return sum(stats.pages for stats in self.stats)
