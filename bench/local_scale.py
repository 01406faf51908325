"""Local scale: ``make run`` with a print run of real size answers like with a handful of cards.

Two local runs (``python -m tools.local_api``, moto patched by ``tools/moto_journal.py``) start
side by side, one importing 50 printed stock cards and one 50,000 (``STOCK_CSV``). Then each
webhook is timed over HTTP on both, samples interleaved so that the machine's load falls on both
alike: median latency per table size and their ratio (goal <= 1.5). Also: how long the 50,000
cards took to import (the run's own figure, goal under a minute), how long the run took to
answer, and its peak memory (VmHWM, goal under 1 GiB).

    python -m bench.local_scale [--cards 50000] [--samples 15]

Every request is checked (status 200); no body is printed (an issue answer holds a number and a
PIN).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.flows import CUSTOMER

SMALL = 50
WEBHOOKS = ("balance", "issue", "activate", "reserve", "capture")
GOALS = {"ratio": 1.5, "import_seconds": 60.0, "peak_rss_mib": 1024.0}
STOCK_PIN = "2468"
STORE = {"store_id": "store-berlin-1"}
_IMPORTED = re.compile(r"imported in ([0-9.]+) s")


class LocalScaleError(AssertionError):
    """A webhook did not answer 200 (status and error code only: bodies may hold numbers)."""


@dataclass
class Run:
    """One local run with ``cards`` printed stock cards, and what the samples need from it."""

    cards: int
    api: Any
    stock: list[str]
    startup_seconds: float
    import_seconds: float | None
    used: int = 0
    timings: dict[str, list[float]] = field(default_factory=dict)
    balance_card: dict[str, str] = field(default_factory=dict)
    payment_card: dict[str, str] = field(default_factory=dict)

    def post(self, path: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        began = time.perf_counter()
        status, answer = self.api.post(path, body)
        elapsed = time.perf_counter() - began
        if status != 200:
            code = answer.get("error_code") if isinstance(answer, dict) else None
            raise LocalScaleError(f"{path} on {self.cards} cards answered {status} {code}")
        return elapsed, answer

    def unused_stock(self) -> str:
        number = self.stock[self.used]
        self.used += 1
        return number

    def activate(self, number: str, value: int) -> float:
        elapsed, _ = self.post(
            "/gift_card/activate",
            {
                "card_number": number,
                "amount": {"value": value, "currency": "USD"},
                "metadata": {"original_operation": "activation", **STORE},
                "idempotence_key": str(uuid.uuid4()),
            },
        )
        return elapsed

    def issue(self) -> tuple[float, dict[str, str]]:
        elapsed, answer = self.post(
            "/gift_card/issue",
            {
                "amount": {"value": 50, "currency": "USD"},
                "customer": CUSTOMER,
                "metadata": {"original_operation": "activation", **STORE},
                "idempotence_key": str(uuid.uuid4()),
            },
        )
        return elapsed, dict(answer["identifier"])

    def reserve(self) -> tuple[float, str]:
        elapsed, answer = self.post(
            "/financial_instruments",
            {
                "idempotency_key": str(uuid.uuid4()),
                "instrument": self.payment_card,
                "amount": 1,
                "currency": "USD",
                "account_id": "acct-bench",
                "metadata": STORE,
            },
        )
        return elapsed, str(answer["identifier"])

    def prepare(self) -> None:
        """A card to read balances of and a stock card with money to pay with."""
        _, self.balance_card = self.issue()
        number = self.unused_stock()
        self.activate(number, 1000)
        self.payment_card = {"number": number, "pin": STOCK_PIN}

    def sample(self, webhook: str) -> float:
        """One timed call of ``webhook`` (what it needs first is done untimed)."""
        if webhook == "balance":
            body = {"identifier": self.balance_card, "metadata": STORE}
            return self.post("/gift_card/balance", body)[0]
        if webhook == "issue":
            return self.issue()[0]
        if webhook == "activate":
            return self.activate(self.unused_stock(), 25)
        if webhook == "reserve":
            return self.reserve()[0]
        if webhook == "capture":
            _, instrument = self.reserve()
            elapsed, _ = self.post(
                f"/financial_instruments/{instrument}/capture",
                {
                    "idempotency_key": str(uuid.uuid4()),
                    "amount": 1,
                    "currency": "USD",
                    "metadata": STORE,
                },
            )
            return elapsed
        raise ValueError(webhook)

    def peak_rss_mib(self) -> float | None:
        """VmHWM of the local run (Linux), MiB."""
        try:
            status = Path(f"/proc/{self.api.pid}/status").read_text()
        except (OSError, TypeError):
            return None
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        return round(int(found.group(1)) / 1024, 1) if found else None


def write_stock(path: Path, cards: int) -> list[str]:
    from tests.support.calls import card_number

    numbers = [card_number(index, prefix="5555") for index in range(cards)]
    path.write_text("number,pin\n" + "".join(f"{number},{STOCK_PIN}\n" for number in numbers))
    return numbers


def start(cards: int, folder: Path, progress: Callable[[str], None]) -> Run:
    from tests.support.local_server import LocalApi

    csv = folder / f"stock-{cards}.csv"
    numbers = write_stock(csv, cards)
    progress(f"local scale: starting make run with {cards} stock cards")
    api = LocalApi(stock_csv=csv, startup_timeout=600)
    began = time.perf_counter()
    api.start()
    startup = time.perf_counter() - began
    found = _IMPORTED.search(api.output())
    return Run(cards, api, numbers, startup, float(found.group(1)) if found else None)


def measure(
    cards: int = 50_000, samples: int = 15, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Both runs, every webhook ``samples`` times on each; the figures for results.json."""
    say = progress or (lambda message: None)
    if samples + 2 > SMALL - 2:
        raise ValueError(f"at most {SMALL - 4} samples: the small run has {SMALL} stock cards")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-local-") as folder:
        try:
            for size in (SMALL, cards):
                runs.append(start(size, Path(folder), say))
            for run in runs:
                run.prepare()
            for webhook in WEBHOOKS:
                say(f"local scale: {webhook}")
                for run in runs:
                    for _ in range(2):  # warm: clients, secrets, code paths
                        run.sample(webhook)
                for index in range(samples):
                    order = runs if index % 2 == 0 else runs[::-1]
                    for run in order:
                        run.timings.setdefault(webhook, []).append(run.sample(webhook))
            peak = runs[-1].peak_rss_mib()
        finally:
            for run in runs:
                run.api.stop()
                run.api.cleanup()
    small, large = runs
    median = {
        webhook: {
            str(run.cards): round(statistics.median(run.timings[webhook]) * 1000, 2) for run in runs
        }
        for webhook in WEBHOOKS
    }
    return {
        "cards": cards,
        "samples": samples,
        "median_ms": median,
        "ratio": {
            webhook: round(
                statistics.median(large.timings[webhook])
                / statistics.median(small.timings[webhook]),
                3,
            )
            for webhook in WEBHOOKS
        },
        "import_seconds": large.import_seconds,
        "startup_seconds": round(large.startup_seconds, 1),
        "startup_seconds_small": round(small.startup_seconds, 1),
        "peak_rss_mib": peak,
    }


def rows(figures: dict[str, Any]) -> tuple[str, list[str], list[list[Any]]]:
    """Title, header and rows of the table ``make bench`` prints."""
    cards = figures["cards"]
    small, large = str(SMALL), str(cards)

    def verdict(value: float | None, goal: float, below: bool = False) -> str:
        if value is None:
            return "n/a"
        return "ok" if (value < goal if below else value <= goal) else "OVER"

    table: list[list[Any]] = []
    for webhook in WEBHOOKS:
        ratio = figures["ratio"][webhook]
        table.append(
            [
                webhook,
                f"{figures['median_ms'][webhook][small]:.1f}",
                f"{figures['median_ms'][webhook][large]:.1f}",
                f"{ratio:.2f}",
                "<= 1.5",
                verdict(ratio, GOALS["ratio"]),
            ]
        )
    imported = figures["import_seconds"]
    table.append(
        [
            f"import {cards:,} stock cards (s)",
            "",
            "n/a" if imported is None else f"{imported:.1f}",
            "",
            "< 60",
            verdict(imported, GOALS["import_seconds"], below=True),
        ]
    )
    table.append(
        [
            "make run answers after (s)",
            f"{figures['startup_seconds_small']:.1f}",
            f"{figures['startup_seconds']:.1f}",
            "",
            "",
            "",
        ]
    )
    peak = figures["peak_rss_mib"]
    table.append(
        [
            "peak memory of make run (MiB)",
            "",
            "n/a" if peak is None else f"{peak:.0f}",
            "",
            "< 1024",
            verdict(peak, GOALS["peak_rss_mib"], below=True),
        ]
    )
    title = (
        f"Local scale: make run with {SMALL} and {cards:,} stock cards "
        f"(median ms of {figures['samples']} calls over HTTP, interleaved)"
    )
    header = ["webhook", f"{SMALL} cards", f"{cards:,} cards", "ratio", "goal", ""]
    return title, header, table


def main(argv: Sequence[str] | None = None) -> int:
    from bench.run import table

    parser = argparse.ArgumentParser(description="make run at programme scale")
    parser.add_argument("--cards", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args(argv)
    figures = measure(
        args.cards,
        args.samples,
        lambda message: print(f"bench: {message}", file=sys.stderr, flush=True),
    )
    print(table(*rows(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
