"""The audit's throughput: items per second per segment, on moto and in our own code alone.

    python -m bench.audit [--cards 3000] [--segments 4]

A synthetic table (``tests/support/audit_table.py``: cards in three currencies, their entries,
one in five with an open reservation) is written to the moto server on loopback, then read:

- ``moto_items_per_second_per_segment``: ``ParallelScan`` + the audit fold end to end, one
  segment, then ``segments`` at once (their total divided by ``segments``). moto's Scan sorts the
  whole table for every page, so this is a floor that falls as the table grows: it says the code
  works at this size, not how fast DynamoDB is.
- ``cpu_items_per_second``: the work per item in our process without any store: botocore parsing
  the answer's JSON, loading the DynamoDB JSON (``Repository._load``) and the audit fold
  (``giftcard.audit.audit_segment``); ``cpu_shares`` splits it. In one process
  the segments' threads share one interpreter lock, so this bounds one job however many segments
  it reads; ``docs/performance.md`` projects DynamoDB from it.
- ``item_bytes``: the average stored item (DynamoDB's size rules), for pages per second.

The audit is also checked: every card checked, no mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

START = 1_800_000_000
#: Lambda's maximum duration, and the share of it the projection allows the scan.
LAMBDA_SECONDS = 900
BUDGET_SHARE = 0.8
#: CPU figures are medians of this many runs.
REPEATS = 5


def measure(cards: int = 3000, segments: int = 4) -> dict[str, Any]:
    """Needs boto3 pointed at a moto server with the service's table (``bench.server``), in this
    process: moto is patched by ``tools/moto_journal.py`` as in the local run and the tests."""
    import boto3

    from tools import moto_journal

    moto_journal.install()

    from giftcard import aws
    from giftcard.audit import AsOf, audit_segment, combine_all, finish
    from giftcard.audit_job import PAGE_ITEMS
    from giftcard.clock import Instant
    from giftcard.repository import Repository
    from giftcard.scan import ParallelScan
    from giftcard.settings import get_settings
    from tests.support.audit_table import synthetic_table, write
    from tests.support.items import item_size

    load = os.getloadavg()[0]
    table_name = get_settings().table_name
    table = synthetic_table(cards, START, seed=cards)
    write(boto3.client("dynamodb"), table_name, table.items)
    repository = Repository(table_name, client=aws.client("dynamodb"))
    as_of = AsOf.at(Instant(START))

    def scan(count: int) -> tuple[float, int]:
        reader = ParallelScan(repository, count, page_limit=PAGE_ITEMS)
        began = time.perf_counter()
        parts = reader.map(lambda items: audit_segment(items, as_of))
        elapsed = time.perf_counter() - began
        result = finish(combine_all(parts), as_of)
        if result.cards_checked != cards or result.mismatches:
            raise AssertionError("the benchmark's audit did not reconcile")
        return elapsed, result.items

    one_seconds, items = scan(1)
    many_seconds, _ = scan(segments)

    # Our own CPU per item: the raw pages once more, then load + fold timed without the store.
    raw: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    client = aws.client("dynamodb")
    while True:
        kwargs: dict[str, Any] = {"TableName": table_name, "Limit": PAGE_ITEMS}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        raw += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    # botocore's parsing of each page's JSON (what the client does with every answer)
    from botocore.parsers import create_parser

    shape = client.meta.service_model.operation_model("Scan").output_shape
    parser = create_parser("json")
    bodies = [
        json.dumps({"Items": raw[i : i + PAGE_ITEMS], "Count": PAGE_ITEMS}).encode()
        for i in range(0, len(raw), PAGE_ITEMS)
    ]

    def cpu(step: Any) -> float:
        """Median CPU seconds of ``step`` over ``REPEATS`` runs (the machine may be shared)."""
        times = []
        for _ in range(REPEATS):
            began = time.process_time()
            step()
            times.append(time.process_time() - began)
        return statistics.median(times)

    parse_seconds = cpu(
        lambda: [
            parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)
            for body in bodies
        ]
    )
    loaded = [repository._load(item) for item in raw]
    load_seconds = cpu(lambda: [repository._load(item) for item in raw])
    fold_seconds = cpu(lambda: audit_segment(loaded, as_of))
    cpu_seconds = parse_seconds + load_seconds + fold_seconds
    cpu_rate = len(loaded) / cpu_seconds
    item_bytes = sum(item_size(item) for item in raw) / len(raw)
    return {
        "cards": cards,
        "items": items,
        "segments": segments,
        "moto_items_per_second_per_segment": {
            "1": round(items / one_seconds),
            str(segments): round(items / many_seconds / segments),
        },
        "cpu_items_per_second": round(cpu_rate),
        "cpu_shares": {
            "parse": round(parse_seconds / cpu_seconds, 2),
            "load": round(load_seconds / cpu_seconds, 2),
            "fold": round(fold_seconds / cpu_seconds, 2),
        },
        "item_bytes": round(item_bytes),
        "page_items": PAGE_ITEMS,
        "lambda_seconds": LAMBDA_SECONDS,
        "budget_share": BUDGET_SHARE,
        "measured": {
            "date": time.strftime("%Y-%m-%d"),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "machine": platform.machine(),
            "load_average_at_start": round(load, 1),
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    from bench.server import loopback_aws

    parser = argparse.ArgumentParser(description="audit throughput on a moto server")
    parser.add_argument("--cards", type=int, default=3000)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument(
        "--into",
        type=Path,
        help="also store the figures under audit in this results file (docs/performance.json)",
    )
    args = parser.parse_args(argv)
    with loopback_aws():
        figures = measure(args.cards, args.segments)
    figures["measured"]["command"] = f"python -m bench.audit --cards {args.cards}"
    print(json.dumps(figures, indent=2))
    if args.into is not None:
        results = json.loads(args.into.read_text(encoding="utf-8"))
        results["audit"] = figures
        args.into.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
