"""The parallel scan (``giftcard.scan``) on a fake repository: pages joined per segment, results
in segment order, bounded jittered retries that resume from the failed page's key, and a
segment that stays throttled stopping the whole scan; and the repository's item loader (the
larger part of the audit's CPU per item) loading exactly what boto3's deserializer loads."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from giftcard.scan import ParallelScan, ScanFailed
from giftcard.writes import StorageBusy, StorageUnreachable


class FakePages:
    """Segment ``s`` holds items ``s-0`` .. ``s-(n-1)``, two per page; ``fail`` decides which
    calls (segment, start, attempt) raise."""

    def __init__(self, items_per_segment: int, fail: Any = None) -> None:
        self.items_per_segment = items_per_segment
        self.fail = fail or (lambda segment, start, attempt: None)
        self.calls: list[tuple[int, int | None]] = []
        self.client = object()
        self._lock = threading.Lock()
        self._attempts: dict[tuple[int, int | None], int] = {}

    def scan_page(
        self, segment: int, segments: int, start: Any, *, consistent: bool, limit: Any
    ) -> tuple[list[dict[str, Any]], Any]:
        assert consistent
        offset = 0 if start is None else start["next"]
        with self._lock:
            self.calls.append((segment, offset))
            attempt = self._attempts.get((segment, offset), 0)
            self._attempts[(segment, offset)] = attempt + 1
        error = self.fail(segment, offset, attempt)
        if error is not None:
            raise error
        page = [
            {"id": f"{segment}-{i}"} for i in range(offset, min(offset + 2, self.items_per_segment))
        ]
        following = offset + 2
        return page, ({"next": following} if following < self.items_per_segment else None)


def test_each_segment_reads_its_pages_in_order_and_results_keep_segment_order() -> None:
    pages = FakePages(5)
    scan = ParallelScan(pages, 3, sleep=lambda _s: None)  # type: ignore[arg-type]
    results = scan.map(lambda items: [item["id"] for item in items])
    assert results == [[f"{s}-{i}" for i in range(5)] for s in range(3)]
    assert scan.pages == 9 and scan.retries == 0


def test_a_throttled_page_is_asked_again_from_its_own_key_with_bounded_backoff() -> None:
    # Given the second page of segment 1 throttled 3 times, then unanswered once
    def fail(segment: int, offset: int, attempt: int) -> Exception | None:
        if (segment, offset) == (1, 2) and attempt < 4:
            return StorageUnreachable("scan") if attempt == 3 else StorageBusy("scan")
        return None

    pages = FakePages(6, fail)
    slept: list[float] = []
    scan = ParallelScan(pages, 2, sleep=slept.append, base_delay=0.1, max_delay=0.3)  # type: ignore[arg-type]
    results = scan.map(lambda items: [item["id"] for item in items])
    # Then every item once, the page retried from offset 2 (never from the start)
    assert results[1] == [f"1-{i}" for i in range(6)]
    assert [call for call in pages.calls if call[0] == 1] == [(1, 0)] + [(1, 2)] * 5 + [(1, 4)]
    assert scan.retries == 4
    assert len(slept) == 4 and all(0 <= delay <= 0.3 for delay in slept)


def test_a_segment_throttled_past_its_budget_fails_the_scan() -> None:
    def fail(segment: int, offset: int, attempt: int) -> Exception | None:
        return StorageBusy("scan") if segment == 0 and offset == 2 else None

    pages = FakePages(400, fail)
    scan = ParallelScan(pages, 2, max_attempts=3, sleep=lambda _s: None)  # type: ignore[arg-type]
    with pytest.raises(ScanFailed, match="segment 0: 3 attempts"):
        scan.map(lambda items: sum(1 for _ in items))
    assert pages.calls.count((0, 2)) == 3


@pytest.mark.parametrize("segments", [0, 1_000_001])
def test_segments_within_dynamodb_s_limits(segments: int) -> None:
    with pytest.raises(ValueError):
        ParallelScan(FakePages(1), segments)  # type: ignore[arg-type]


def attribute_values() -> Any:
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.text().map(lambda v: {"S": v}),
        # DynamoDB numbers: at most 38 significant digits (boto3 itself refuses more)
        st.decimals(
            min_value=-(10**30), max_value=10**30, allow_nan=False, allow_infinity=False, places=4
        ).map(lambda v: {"N": str(v)}),
        st.integers(-(10**30), 10**30).map(lambda v: {"N": str(v)}),
        st.booleans().map(lambda v: {"BOOL": v}),
        st.just({"NULL": True}),
        st.binary(max_size=8).map(lambda v: {"B": v}),
        st.sets(st.text(max_size=3), min_size=1, max_size=3).map(lambda v: {"SS": sorted(v)}),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda v: {"L": v}),
            st.dictionaries(st.text(max_size=3), inner, max_size=3).map(lambda v: {"M": v}),
        ),
        max_leaves=6,
    )


def test_items_load_exactly_as_boto3_s_deserializer_loads_them() -> None:
    from boto3.dynamodb.types import TypeDeserializer
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from giftcard.repository import Repository

    repository = Repository("t", client=object())
    deserializer = TypeDeserializer()

    @settings(max_examples=200, deadline=None)
    @given(st.dictionaries(st.text(min_size=1, max_size=5), attribute_values(), max_size=6))
    def same(item: dict[str, Any]) -> None:
        expected = {name: deserializer.deserialize(value) for name, value in item.items()}
        assert repository._load(item) == expected

    same()
