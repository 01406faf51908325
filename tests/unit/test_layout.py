"""The import direction between the tests and the benchmark: ``bench/`` uses the test harness
(``tests/support``: Lambda context, proxy events, call counter, the round-trip flow), never the
other way, so a change to the benchmark cannot change what a test checks."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def imported_modules(source: str) -> set[str]:
    """Every module ``source`` imports: import statements at any depth and
    ``importlib.import_module``/``__import__`` calls with a literal name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def is_bench(module: str) -> bool:
    return module == "bench" or module.startswith("bench.")


def test_the_scan_sees_every_form_of_import() -> None:
    source = (
        "import bench\nimport os, bench.flows as f\nfrom bench import flows\n"
        "def late():\n    from bench.warm import measure\n"
        "importlib.import_module('bench.run')\n__import__('bench')\n"
        "import benchmark_tools\nfrom tests.support import flows\n"
    )
    bench_modules = sorted(m for m in imported_modules(source) if is_bench(m))
    assert bench_modules == ["bench", "bench.flows", "bench.run", "bench.warm"]
    assert not is_bench("benchmark_tools")


def test_nothing_under_tests_imports_bench() -> None:
    offenders = sorted(
        f"{path.relative_to(TESTS.parent)}: {module}"
        for path in TESTS.rglob("*.py")
        for module in imported_modules(path.read_text(encoding="utf-8"))
        if is_bench(module)
    )
    assert offenders == []
