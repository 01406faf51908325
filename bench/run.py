"""``make bench``: print the performance table and write ``bench/results.json``.

    python -m bench.run [--runs 7] [--samples 150] [--local-cards 50000]
        [--output bench/results.json]

Offline and bounded: a moto server on 127.0.0.1 stands in for DynamoDB and Secrets Manager;
fresh interpreters time the cold start; two local runs (50 and 50,000 stock cards) time the
webhooks at programme scale (``bench/local_scale.py``); the whole run takes two to four minutes
on 2 cores.
Timing figures depend on the machine and its load: compare ratios, not milliseconds, and only
between runs on the same machine.
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

from bench import ROOT, audit, coldstart, flows, local_scale, warm
from bench.server import loopback_aws

GOALS = {
    "import_ratio": 1.3,
    "warm_overhead_ratio": 1.25,
    "layer_unzipped_mb": 25.0,
    "max_item_bytes": 1024,
}
#: What each request's round trips should be, and why (design: one per request; a PIN guess is
#: counted before it is compared; deactivate and the payment commands must read the balance they
#: change, which their ledger entry records, before their transaction).
ROUND_TRIP_GOALS = {
    "balance": 2,
    "balance_wrong_pin": 1,
    "balance_pin_reset": 2,
    "balance_unknown_number": 1,
    "balance_locking_guess": 3,
    "balance_locked": 1,
    "issue": 1,
    "issue_replay": 1,
    "activate": 1,
    "activate_replay": 1,
    "deactivate": 2,
    "deactivate_replay": 1,
    "deactivate_with_pin": 3,
    "instrument_create": 3,
    "instrument_capture": 2,
    "instrument_refund": 2,
    "instrument_revoke": 2,
}
ROUND_TRIP_WHY = {
    "balance": "charge the guess (returns the card), compare, reset the window",
    "balance_wrong_pin": "the charge is the read; the comparison needs no write",
    "balance_pin_reset": "as balance: a right PIN resets the window",
    "balance_unknown_number": "the charge's condition finds no card: same cost as a wrong PIN",
    "balance_locking_guess": "optimistic charge refused; charge carrying the lock; confirm it",
    "balance_locked": "the charge's condition refuses a locked card",
    "deactivate_with_pin": "read card + record, charge the guess, transaction (with the reset)",
    "instrument_create": "read card + record, charge the guess, transaction (with the reset)",
}
LAYER = ROOT / "build" / "layer"
#: Handlers timed again without bytecode in the layer (they all import much the same code).
WITHOUT_BYTECODE = ("balance", "authorizer")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def verdict(value: float | None, goal: float, *, below: bool = False) -> str:
    if value is None:
        return "n/a"
    ok = value < goal if below else value <= goal
    return "ok" if ok else "OVER"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [f"\n## {title}\n"]
    for index, row in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if index == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def layer_ships_bytecode() -> bool:
    """Whether the layer asset, as CDK stages it from build/layer, holds the runtime's bytecode."""
    from infra.layer import BYTECODE_TAG, shipped_files

    suffix = f".{BYTECODE_TAG}.pyc"
    return LAYER.is_dir() and any(p.name.endswith(suffix) for p in shipped_files(LAYER))


def layer_size() -> tuple[float | None, str]:
    site = LAYER / "python"
    if not site.is_dir():
        return None, "build/layer not found (run `make build`)"
    from infra.layer import shipped_files

    # What the synthesized asset holds: the same files CDK stages (infra.layer.ASSET_EXCLUDE).
    size = sum(f.stat().st_size for f in shipped_files(LAYER) if not f.is_symlink())
    shipped = [name for name in ("boto3", "botocore", "s3transfer") if (site / name).exists()]
    note = f"contains {', '.join(shipped)}" if shipped else "without boto3/botocore"
    biggest = sorted(
        (
            (sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else 0, p)
            for p in site.iterdir()
            if not p.name.endswith(".dist-info")
        ),
        key=lambda pair: -pair[0],
    )[:3]
    note += "; largest: " + ", ".join(f"{p.name} {s / 2**20:.1f}" for s, p in biggest)
    return round(size / 2**20, 2), note


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Performance figures -> bench/results.json")
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per handler (>=5)")
    parser.add_argument("--samples", type=int, default=150, help="warm pairs per webhook")
    parser.add_argument(
        "--budget", type=float, default=6.0, help="seconds at most per warm webhook"
    )
    parser.add_argument(
        "--local-cards", type=int, default=50_000, help="stock cards of the large local run"
    )
    parser.add_argument(
        "--local-samples", type=int, default=15, help="calls per webhook on each local run"
    )
    parser.add_argument(
        "--audit-cards", type=int, default=3000, help="cards of the audit's synthetic table"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args(argv)
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    began = time.perf_counter()
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    report: list[str] = [
        f"# make bench: {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {cores} cores, load average {load:.1f} at start, moto on loopback"
    ]
    if load > cores:
        report.append(
            "(the machine was busy: wall-clock medians wander; trust the CPU ratio of the cold "
            "start, and run again when it is idle for the warm ratios)"
        )
    redemption = all(flows.available(name) for name in flows.REDEMPTION)

    with loopback_aws() as env:
        # Round trips and stored item sizes: one realistic flow through the real handlers.
        progress("round trips and item sizes")
        with warm.quiet_logs():
            counts, operations = flows.round_trips(with_redemption=redemption)
            sizes = flows.stored_item_sizes()
            powertools = flows.powertools_round_trips()
        rows: list[list[Any]] = []
        for label, count in counts.items():
            goal = ROUND_TRIP_GOALS.get(label, 1 if label.endswith("_replay") else None)
            rows.append(
                [
                    label,
                    count,
                    " + ".join(operations[label]),
                    goal if goal is not None else "-",
                    "-" if goal is None else ("ok" if count <= goal else "OVER"),
                    ROUND_TRIP_WHY.get(label, ""),
                ]
            )
        for label, count in powertools.items():
            rows.append([f"({label})", count, "Powertools @idempotent + 1 PutItem", "-", "-", ""])
        report.append(
            table(
                "DynamoDB round trips per request",
                ["request", "calls", "operations", "goal", "", "why"],
                rows,
            )
        )
        max_item = max(sizes.values())
        report.append(
            table(
                "Largest stored item after the flow (DynamoDB item size rules)",
                ["item", "bytes", "goal < 1024"],
                [
                    [kind, size, verdict(size, GOALS["max_item_bytes"], below=True)]
                    for kind, size in sorted(sizes.items())
                ],
            )
        )

        # Warm overhead: every webhook against its own raw DynamoDB calls.
        warm_rows: list[list[Any]] = []
        warm_ratio: dict[str, float] = {}
        warm_ms: dict[str, dict[str, float]] = {}
        with warm.quiet_logs():
            for scenario in warm.scenarios(redemption):
                progress(f"warm {scenario.name}")
                timing = warm.measure(scenario, args.samples, budget=args.budget)
                ratio = round(timing.ratio, 3)
                warm_ratio[scenario.name] = ratio
                handler_ms = statistics.median(timing.handler)
                raw_ms = statistics.median(timing.raw)
                warm_ms[scenario.name] = {
                    "handler": round(handler_ms * 1000, 2),
                    "raw": round(raw_ms * 1000, 2),
                }
                warm_rows.append(
                    [
                        scenario.name,
                        len(timing.handler),
                        ms(handler_ms),
                        ms(raw_ms),
                        ms(handler_ms - raw_ms),
                        f"{ratio:.2f}",
                        verdict(ratio, GOALS["warm_overhead_ratio"]),
                    ]
                )
        report.append(
            table(
                "Warm latency: handler vs the same raw DynamoDB calls (medians, ms)",
                ["webhook", "pairs", "handler", "raw calls", "overhead", "ratio", "goal <= 1.25"],
                warm_rows,
            )
        )

        # Cold start: fresh interpreters, Lambda's sys.path layout.
        names = flows.functions_present()
        progress(f"cold start: {len(names)} handlers + baseline, {args.runs} interpreters each")
        with coldstart.lambda_layout(LAYER / "python") as layout:
            cold = coldstart.measure(names, layout, env, args.runs)
            ships_bytecode = layout.faithful and layer_ships_bytecode()
            if layout.faithful and not ships_bytecode:
                # The asset CDK would deploy has no bytecode: measure the handlers as Lambda
                # would run them, compiling the layer on every cold start.
                progress("the layer asset ships no cpython-313 bytecode: measuring without it")
                cold.update(coldstart.measure_without_bytecode(names, layout, env, args.runs))
            baseline = cold[coldstart.BASELINE]
            no_bytecode = (
                coldstart.measure_without_bytecode(
                    [n for n in WITHOUT_BYTECODE if n in names], layout, env, 5
                )
                if layout.faithful
                else {}
            )
            progress("cold start breakdown (balance)")
            steps = coldstart.breakdown("balance", layout, env, 5)
        base = baseline.cold
        base_cpu = statistics.median(baseline.cpus)
        tuned = cold[coldstart.TUNED_BASELINE].cold
        import_ratio = {name: round(cold[name].cold / base, 3) for name in names}
        cold_rows: list[list[Any]] = [
            ["boto3 + client (baseline)", ms(base), "", "", ms(base), "1.00", "", "1.00", "", ""],
            [
                "the same, GC paused + giftcard.aws loader",
                ms(tuned),
                "",
                "",
                ms(tuned),
                f"{tuned / base:.2f}",
                "",
                f"{statistics.median(cold[coldstart.TUNED_BASELINE].cpus) / base_cpu:.2f}",
                "1.00",
                "",
            ],
        ]
        for name in names:
            samples = cold[name]
            cold_rows.append(
                [
                    name,
                    ms(samples.median("imports")),
                    ms(samples.median("inits")),
                    ms(samples.median("first_calls")),
                    ms(samples.cold),
                    f"{import_ratio[name]:.2f}",
                    verdict(import_ratio[name], GOALS["import_ratio"]),
                    f"{statistics.median(samples.cpus) / base_cpu:.2f}",
                    f"{samples.cold / tuned:.2f}",
                    f"{no_bytecode[name].cold / base:.2f}" if name in no_bytecode else "",
                ]
            )
        report.append(
            table(
                f"Cold start: medians of {args.runs} fresh interpreters (ms)",
                [
                    "handler",
                    "import",
                    "init",
                    "first call",
                    "import+init",
                    "ratio",
                    "goal <= 1.3",
                    "CPU ratio",
                    "vs tuned boto3",
                    "ratio, no .pyc",
                ],
                cold_rows,
            )
        )
        report.append(
            table(
                "Cold start of balance, step by step (CPU ms, median of 5, in import order)",
                ["step", "CPU ms"],
                [
                    *[[label, ms(value)] for label, value in steps],
                    [
                        "total (baseline: boto3 + DynamoDB client)",
                        f"{ms(sum(v for _, v in steps))} ({ms(base_cpu)})",
                    ],
                ],
            )
        )
        if not layout.faithful:
            report.append("(no build/layer: the venv's site-packages stood in for the layer)")
        elif not ships_bytecode:
            report.append("(the layer asset ships no bytecode: handlers measured without it)")

    layer_mb, layer_note = layer_size()
    report.append(
        table(
            "Layer (unzipped, MiB)",
            ["layer", "MiB", "goal <= 25", "note"],
            [
                [
                    "build/layer",
                    "null" if layer_mb is None else f"{layer_mb:.2f}",
                    verdict(layer_mb, GOALS["layer_unzipped_mb"]),
                    layer_note,
                ]
            ],
        )
    )

    # The audit's throughput, on a moto server of its own (a table of synthetic cards only).
    progress(f"audit throughput ({args.audit_cards:,} cards)")
    with loopback_aws(), warm.quiet_logs():
        audit_figures = audit.measure(args.audit_cards)
    audit_figures["measured"]["command"] = "make bench"
    report.append(
        table(
            "Audit throughput (items/s per segment)",
            ["figure", "value"],
            [
                [f"moto, {segments} segment(s)", rate]
                for segments, rate in audit_figures["moto_items_per_second_per_segment"].items()
            ]
            + [["our CPU: load + fold (one interpreter)", audit_figures["cpu_items_per_second"]]],
        )
    )

    # make run at programme scale: two local runs (subprocesses), after the moto server above.
    scale = local_scale.measure(args.local_cards, args.local_samples, progress)
    report.append(table(*local_scale.rows(scale)))

    results = {
        "round_trips": counts,
        "import_ratio": import_ratio,
        #: Not in the issue's schema: against the baseline given our two boto3 measures.
        "import_ratio_vs_tuned_baseline": {
            name: round(cold[name].cold / tuned, 3) for name in names
        },
        "warm_overhead_ratio": warm_ratio,
        "layer_unzipped_mb": layer_mb,
        "layer_ships_bytecode": layer_ships_bytecode(),
        "max_item_bytes": max_item,
        "local_scale": scale,
        "audit": audit_figures,
        # For docs/performance.md (bench/report.py): the figures behind its prose, and where.
        "round_trip_operations": operations,
        "powertools_round_trips": powertools,
        "warm_ms": warm_ms,
        "cold_start_ms": {
            "baseline": round(base * 1000, 1),
            "tuned_baseline": round(tuned * 1000, 1),
            **{name: round(cold[name].cold * 1000, 1) for name in names},
        },
        "cold_start_breakdown_cpu_ms": {label: round(value * 1000, 1) for label, value in steps},
        "import_ratio_without_bytecode": {
            name: round(samples.cold / base, 3) for name, samples in no_bytecode.items()
        },
        "measured": {
            "date": time.strftime("%Y-%m-%d"),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "machine": platform.machine(),
            "cores": cores,
            "load_average_at_start": round(load, 1),
            "command": "make bench",
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    report.append(f"\nwritten {shown} in {time.perf_counter() - began:.0f} s")
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
