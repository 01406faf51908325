"""Render ``docs/performance.md`` from ``bench/results.json`` (the last step of ``make bench``).

    python -m bench.report [--results bench/results.json] [--output docs/performance.md]

The prose is ``bench/performance.template.md``; every figure comes from the results file, so the
page never shows a number that no run measured. A results file from an older ``bench/run.py``
lacks some keys (machine, milliseconds, the cold-start breakdown): those parts say so instead.
``--output -`` prints the page. The rendered results are also copied next to the page
(``docs/performance.json``), so a test can check that the committed page is what its figures
render to.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template
from typing import Any

from bench import ROOT
from bench.local_scale import GOALS as LOCAL_GOALS
from bench.local_scale import SMALL
from bench.run import GOALS, ROUND_TRIP_GOALS, ROUND_TRIP_WHY

TEMPLATE = ROOT / "bench" / "performance.template.md"
RESULTS = ROOT / "bench" / "results.json"
PAGE = ROOT / "docs" / "performance.md"
#: The figures the committed page was rendered from (written with it).
SOURCE = ROOT / "docs" / "performance.json"
#: Functions that are not webhooks: reported apart from the webhooks' range.
NOT_WEBHOOKS = ("authorizer", "reservation_expiry")
DASH, TIMES = "\u2013", "\u00d7"  # en dash and multiplication sign, as in the docs
ABSENT = "*(not in this results.json: recorded by `make bench` from this version on)*"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(value: float | None, goal: float, *, below: bool = False) -> str:
    if value is None:
        return "n/a"
    return "ok" if (value < goal if below else value <= goal) else "**over**"


def span(values: Sequence[float], digits: int = 2) -> str:
    low, high = min(values), max(values)
    return (
        f"{low:.{digits}f}"
        if f"{low:.{digits}f}" == f"{high:.{digits}f}"
        else (f"{low:.{digits}f} {DASH} {high:.{digits}f}")
    )


def webhooks(figures: Mapping[str, float]) -> dict[str, float]:
    return {name: value for name, value in figures.items() if name not in NOT_WEBHOOKS}


def measured(results: Mapping[str, Any]) -> str:
    info = results.get("measured")
    if not info:
        return (
            "Measured by `make bench`; this results.json does not record the date and machine "
            "(`make bench` records them from this version on)."
        )
    return (
        f"Measured by `{info['command']}` on {info['date']}: {info['python']}, {info['machine']}, "
        f"{info['cores']} cores, load average {info['load_average_at_start']} at start, moto on "
        "127.0.0.1."
    )


def summary(results: Mapping[str, Any]) -> str:
    trips = results["round_trips"]
    by_count: dict[int, list[str]] = {}
    for label, count in trips.items():
        by_count.setdefault(count, []).append(label)
    calls = ", ".join(f"{n} for {len(by_count[n])}" for n in sorted(by_count)) + " requests (below)"
    over = [
        label
        for label, count in trips.items()
        if count > ROUND_TRIP_GOALS.get(label, 1 if label.endswith("_replay") else count)
    ]
    imports = results["import_ratio"]
    cold = span(list(webhooks(imports).values()))
    others = ", ".join(f"{name} {imports[name]:.2f}" for name in NOT_WEBHOOKS if name in imports)
    warm = results["warm_overhead_ratio"]
    layer = results["layer_unzipped_mb"]
    item = results["max_item_bytes"]
    rows = [
        [
            "DynamoDB calls per request",
            "1 per success and replay; more only where the answer needs the balance or a "
            "counted guess (below)",
            calls,
            "ok" if not over else "**over**: " + ", ".join(over),
        ],
        [
            'cold start: import + init ÷ `import boto3; boto3.client("dynamodb")`',
            f"≤ {GOALS['import_ratio']}",
            f"{cold} (webhooks); {others}",
            verdict(max(imports.values()), GOALS["import_ratio"]),
        ],
        [
            "warm latency ÷ the same raw DynamoDB calls",
            f"≤ {GOALS['warm_overhead_ratio']}",
            span(list(warm.values())),
            verdict(max(warm.values()), GOALS["warm_overhead_ratio"]),
        ],
        [
            "layer, unzipped",
            f"≤ {GOALS['layer_unzipped_mb']:.0f} MiB",
            "n/a" if layer is None else f"{layer:.1f} MiB",
            verdict(layer, GOALS["layer_unzipped_mb"]),
        ],
        [
            "largest stored item",
            f"< {GOALS['max_item_bytes']} bytes",
            f"{item} bytes",
            verdict(item, GOALS["max_item_bytes"], below=True),
        ],
    ]
    scale = results.get("local_scale")
    if scale:
        ratio = max(scale["ratio"].values())
        rows.append(
            [
                f"`make run` with {scale['cards']:,} stock cards ÷ with {SMALL} (median latency)",
                f"≤ {LOCAL_GOALS['ratio']}",
                span(list(scale["ratio"].values())),
                verdict(ratio, LOCAL_GOALS["ratio"]),
            ]
        )
    return table(["figure", "goal", "last run", ""], rows)


def round_trips(results: Mapping[str, Any]) -> str:
    operations = results.get("round_trip_operations", {})
    rows = []
    for label, count in results["round_trips"].items():
        goal = ROUND_TRIP_GOALS.get(label, 1 if label.endswith("_replay") else None)
        rows.append(
            [
                label,
                count,
                " + ".join(operations.get(label, [])) or DASH,
                DASH if goal is None else goal,
                ROUND_TRIP_WHY.get(label, ""),
            ]
        )
    for label, count in results.get("powertools_round_trips", {}).items():
        rows.append(
            [f"*{label}*", f"*{count}*", "*Powertools `@idempotent` around one PutItem*", DASH, ""]
        )
    text = table(["request", "calls", "operations", "goal", "why"], rows)
    if "powertools_round_trips" not in results:
        text += "\n\nPowertools' `@idempotent` for comparison: " + ABSENT
    return text


def warm_overhead(results: Mapping[str, Any]) -> str:
    timings = results.get("warm_ms")
    if not timings:
        return ""
    overhead = statistics.median(t["handler"] - t["raw"] for t in timings.values())
    return (
        "Our own work (parsing, validation, HMAC, AES-GCM, logging) costs about "
        f"{overhead:.1f} ms per request (median over the webhooks); the rest is the DynamoDB calls."
    )


def warm(results: Mapping[str, Any]) -> str:
    timings = results.get("warm_ms", {})
    rows = []
    for name, ratio in results["warm_overhead_ratio"].items():
        ms = timings.get(name)
        rows.append(
            [
                name,
                DASH if ms is None else f"{ms['handler']:.1f}",
                DASH if ms is None else f"{ms['raw']:.1f}",
                f"{ratio:.2f}",
            ]
        )
    text = table(["webhook", "handler ms", "raw calls ms", "ratio"], rows)
    return text if timings else text + "\n\nMilliseconds: " + ABSENT


def cold(results: Mapping[str, Any]) -> str:
    ms = results.get("cold_start_ms", {})
    tuned = results.get("import_ratio_vs_tuned_baseline", {})
    plain = results.get("import_ratio_without_bytecode", {})
    rows = []
    if ms:
        rows.append(["boto3 + client (baseline)", f"{ms['baseline']:.1f}", "1.00", "", ""])
        rows.append(
            [
                "the same, GC paused + giftcard.aws loader (tuned)",
                f"{ms['tuned_baseline']:.1f}",
                f"{ms['tuned_baseline'] / ms['baseline']:.2f}",
                "1.00",
                "",
            ]
        )
    for name, ratio in results["import_ratio"].items():
        rows.append(
            [
                name,
                f"{ms[name]:.1f}" if name in ms else DASH,
                f"{ratio:.2f}",
                f"{tuned[name]:.2f}" if name in tuned else DASH,
                f"{plain[name]:.2f}" if name in plain else "",
            ]
        )
    return table(["handler", "import + init ms", "ratio", "vs tuned", "ratio, no .pyc"], rows)


def cold_prose(results: Mapping[str, Any]) -> str:
    ms = results.get("cold_start_ms")
    if not ms:
        return "Milliseconds: " + ABSENT
    hooks = webhooks({k: v for k, v in ms.items() if k not in ("baseline", "tuned_baseline")})
    tuned = webhooks(results.get("import_ratio_vs_tuned_baseline", {}))
    text = (
        f"A webhook handler costs {span(list(hooks.values()), 0)} ms against "
        f"{ms['baseline']:.0f} ms for the bare boto3 client"
    )
    if "authorizer" in ms:
        text += f" (the authorizer {ms['authorizer']:.0f} ms)"
    text += (
        f"; the same client built with our two boto3 measures costs {ms['tuned_baseline']:.0f} ms "
        f"({ms['tuned_baseline'] / ms['baseline']:.2f})"
    )
    if tuned:
        text += f", and against that a webhook is {span(list(tuned.values()))}{TIMES}"
    return text + "."


def breakdown(results: Mapping[str, Any]) -> str:
    steps = results.get("cold_start_breakdown_cpu_ms")
    if not steps:
        return "The cold start of balance, step by step: " + ABSENT
    rows = [[label, f"{value:.1f}"] for label, value in steps.items()]
    rows.append(["total", f"{sum(steps.values()):.1f}"])
    return "The cold start of balance, step by step (CPU ms, in import order):\n\n" + table(
        ["step", "CPU ms"], rows
    )


def sizes(results: Mapping[str, Any]) -> str:
    layer = results["layer_unzipped_mb"]
    return table(
        ["figure", "last run", "goal"],
        [
            [
                "layer, unzipped, without boto3 (with Python 3.13 bytecode)",
                "n/a" if layer is None else f"{layer:.2f} MiB",
                f"≤ {GOALS['layer_unzipped_mb']:.0f} MiB",
            ],
            [
                "largest stored item (DynamoDB item size rules)",
                f"{results['max_item_bytes']} bytes",
                f"< {GOALS['max_item_bytes']} bytes",
            ],
        ],
    )


def local_scale(results: Mapping[str, Any]) -> str:
    scale = results.get("local_scale")
    if not scale:
        return ABSENT
    small, large = str(SMALL), str(scale["cards"])
    rows = [
        [
            name,
            f"{scale['median_ms'][name][small]:.1f}",
            f"{scale['median_ms'][name][large]:.1f}",
            f"{ratio:.2f}",
            f"≤ {LOCAL_GOALS['ratio']}",
        ]
        for name, ratio in scale["ratio"].items()
    ]
    imported = scale["import_seconds"]
    peak = scale["peak_rss_mib"]
    rows += [
        [
            f"import {scale['cards']:,} stock cards (s)",
            "",
            "n/a" if imported is None else f"{imported:.1f}",
            "",
            f"< {LOCAL_GOALS['import_seconds']:.0f}",
        ],
        [
            "make run answers after (s)",
            f"{scale['startup_seconds_small']:.1f}",
            f"{scale['startup_seconds']:.1f}",
            "",
            "",
        ],
        [
            "peak memory of make run (MiB)",
            "",
            "n/a" if peak is None else f"{peak:.0f}",
            "",
            f"< {LOCAL_GOALS['peak_rss_mib']:.0f}",
        ],
    ]
    header = ["webhook", f"{SMALL} cards", f"{scale['cards']:,} cards", "ratio", "goal"]
    return f"Median ms of {scale['samples']} calls, interleaved.\n\n" + table(header, rows)


def shares(parts: Mapping[str, float]) -> str:
    words = {
        "parse": "botocore parsing the JSON",
        "load": "loading DynamoDB values",
        "fold": "the audit fold",
    }
    return ", ".join(f"{words.get(name, name)} {share:.0%}" for name, share in parts.items())


def audit(results: Mapping[str, Any]) -> str:
    """The audit's measured throughput, and what it projects for DynamoDB (bench/audit.py)."""
    figures = results.get("audit")
    if not figures:
        return ABSENT
    segments = figures["segments"]
    moto = figures["moto_items_per_second_per_segment"]
    cpu = figures["cpu_items_per_second"]
    item_bytes = figures["item_bytes"]
    per_card = figures["items"] / figures["cards"]
    budget = figures["lambda_seconds"] * figures["budget_share"]
    per_run = cpu * budget
    page_items = figures.get("page_items", 1000)
    page_bytes = page_items * item_bytes
    rows = [
        [
            "table",
            f"{figures['cards']:,} cards, {figures['items']:,} items, {item_bytes} bytes per item",
        ],
        ["moto, 1 segment (items/s per segment)", f"{moto['1']:,}"],
        [f"moto, {segments} segments at once (items/s per segment)", f"{moto[str(segments)]:,}"],
        [
            "CPU in our process: parse + load + audit fold (items/s, one interpreter)",
            f"{cpu:,} (" + shares(figures.get("cpu_shares", {})) + ")",
        ],
    ]
    projection = [
        [
            f"a Scan page of {page_items:,} items",
            f"about {page_bytes / 1024:.0f} KiB: {-(-page_bytes // 4096)} read units, strongly "
            "consistent",
        ],
        [
            f"one job: items in {budget:.0f} s ({figures['budget_share']:.0%} of Lambda's "
            f"{figures['lambda_seconds']} s)",
            f"about {per_run / 1e6:.1f} million (CPU-bound: {cpu:,} items/s)",
        ],
        [
            f"one job: cards at {per_card:.1f} items per card (this table)",
            f"about {per_run / per_card / 1e6:.1f} million",
        ],
        [
            "one job: cards at 11 items per card (10 ledger entries each)",
            f"about {per_run / 11 / 1e6:.2f} million",
        ],
    ]
    info = figures.get("measured", {})
    when = (
        f"Measured by `{info['command']}` on {info['date']}: {info['python']}, {info['machine']}, "
        f"load average {info['load_average_at_start']} at start.\n\n"
        if info
        else ""
    )
    return (
        when
        + table(["figure", "last run"], rows)
        + "\n\nProjected for DynamoDB (from the CPU figure; see the reasoning below):\n\n"
        + table(["projection", "value"], projection)
    )


def render(results: Mapping[str, Any]) -> str:
    blocks = {
        "measured": measured(results),
        "summary": summary(results),
        "round_trips": round_trips(results),
        "warm_overhead": warm_overhead(results),
        "warm": warm(results),
        "cold": cold(results),
        "cold_prose": cold_prose(results),
        "breakdown": breakdown(results),
        "sizes": sizes(results),
        "local_scale": local_scale(results),
        "audit": audit(results),
    }
    page = Template(TEMPLATE.read_text(encoding="utf-8")).substitute(blocks)
    # An empty block leaves a dangling space or blank lines; the page stays tidy without them.
    lines = [line.rstrip() for line in page.splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line == "" and tidy and tidy[-1] == "":
            continue
        tidy.append(line)
    return "\n".join(tidy).strip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bench/results.json -> docs/performance.md")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--output", default=str(PAGE), help="a path, or - for stdout")
    args = parser.parse_args(argv)
    if not args.results.is_file():
        parser.error(f"{args.results} not found: run `make bench` first")
    results = json.loads(args.results.read_text(encoding="utf-8"))
    page = render(results)
    if args.output == "-":
        sys.stdout.write(page)
        return 0
    output = Path(args.output)
    output.write_text(page, encoding="utf-8")
    if output.resolve() == PAGE.resolve():
        SOURCE.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written {output} from {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
