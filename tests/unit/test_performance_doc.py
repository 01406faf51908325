"""docs/performance.md is generated: it is exactly what bench/report.py renders from the figures
committed with it, and a results.json without the newer keys still renders, saying what is
missing. bench/ runs in a subprocess: the test suites never import it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASH = "\u2013"
FIXTURE = Path(__file__).parent / "fixtures" / "bench_results.json"


def render(results: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bench.report", "--results", str(results), "--output", "-"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_the_committed_page_is_what_its_figures_render_to() -> None:
    page = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert render(ROOT / "docs" / "performance.json") == page


def test_every_figure_comes_from_the_results_file() -> None:
    # Given a results.json as an older bench/run.py wrote it (no machine, no milliseconds)
    results = json.loads(FIXTURE.read_text(encoding="utf-8"))
    page = render(FIXTURE)
    # Then its figures are on the page, and what it lacks is said, not invented
    assert f"{results['layer_unzipped_mb']:.1f} MiB" in page
    assert f"{results['max_item_bytes']} bytes" in page
    assert (
        f"| balance | {DASH} | {DASH} | {results['warm_overhead_ratio']['balance']:.2f} |" in page
    )
    assert "does not record the date and machine" in page
    assert "not in this results.json" in page
    scale = results["local_scale"]
    assert f"{scale['median_ms']['balance']['50']:.1f}" in page
