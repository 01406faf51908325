"""Mutation testing of the pure core: ``make mutation`` (minutes; not part of ``make test``).

    python -m tools.mutation             stage, run mutmut, write mutation/results.json, check
    python -m tools.mutation --report    re-read the last run (build/mutation) without running

mutmut derives a mutant's module from its file path and expects the code under ./, src/ or
source/; ours is imported as ``giftcard`` from ``shared/``. So the run happens in a staged copy,
``build/mutation/``, with ``giftcard/`` at its root and pytest's ``pythonpath`` pointed there.

Every surviving mutant must be listed in ``mutation/equivalents.toml`` with a reason (a change
no test can observe). Entries are matched by module, function and the changed source lines,
never by mutmut's numbered names (``x_to_minor__mutmut_7``), which shift whenever code above
them changes. The run fails when a survivor is not reviewed or equivalents pass 10 %.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"
RESULTS = ROOT / "mutation" / "results.json"
EQUIVALENTS = ROOT / "mutation" / "equivalents.toml"

#: The pure core: no AWS, no HTTP (their mutants would need the slow suites to be judged).
MODULES = ("money", "cards", "auth", "keys", "jsonio", "models", "routes")
#: The fast selection: the unit tests (the authorizer's on moto included). Each survivor reruns
#: every test covering its function. Integration files are left out: their no-secrets-in-output
#: check fails under mutmut, whose repeated in-process pytest sessions leave the service's logger
#: writing to the first session's closed output.
TESTS = ("tests/unit",)
#: What the selected tests import besides ``giftcard`` (copied into the staged tree).
ALSO_COPY = ("tests", "functions", "tools", "infra", "bench", "docs", "app.py", "README.md")
MAX_EQUIVALENT_SHARE = 0.10

KILLED = {"killed", "caught by type check"}
TIMED_OUT = {"timeout"}


@dataclass(frozen=True)
class Mutant:
    name: str  # mutmut's numbered name, for `mutmut show` in build/mutation only
    module: str
    function: str
    status: str
    before: str
    after: str

    def key(self) -> tuple[str, str, str, str]:
        return (self.module, self.function, self.before, self.after)


def stage() -> None:
    """A copy of the repo with ``giftcard`` at the root, and mutmut's configuration."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "shared" / "giftcard", WORK / "giftcard", ignore=ignore)
    for name in ALSO_COPY:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, WORK / name, ignore=ignore)
        else:
            shutil.copy2(source, WORK / name)
    pyproject = (ROOT / "pyproject.toml").read_text()
    staged, count = re.subn(r"(?m)^pythonpath = \[.*\]$", 'pythonpath = ["."]', pyproject)
    if count != 1:
        raise SystemExit("pyproject.toml: expected one pytest `pythonpath = [...]` line")
    (WORK / "pyproject.toml").write_text(staged)

    def lines(values: Iterator[str] | tuple[str, ...]) -> str:
        return "".join(f"\n    {value}" for value in values)

    (WORK / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = giftcard\n"
        f"only_mutate ={lines(f'giftcard/{module}.py' for module in MODULES)}\n"
        f"also_copy ={lines(ALSO_COPY)}\n"
        f"pytest_add_cli_args_test_selection ={lines(TESTS)}\n"
    )


def run_mutmut(jobs: int) -> float:
    log = WORK / "mutmut.log"
    print(f"mutmut {version('mutmut')} over {', '.join(MODULES)} with {jobs} workers")
    print(f"  tests: {' '.join(TESTS)}; progress in {log.relative_to(ROOT)}")
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.call(  # noqa: S603 (own arguments)
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
            cwd=WORK,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    elapsed = time.monotonic() - started
    if code != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed (exit {code}):\n{tail}")
    return elapsed


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def read_mutants() -> list[Mutant]:
    """Every mutant of the last run with its status and changed lines (mutmut's own diff)."""
    with _cwd(WORK):
        # mutmut reads its configuration from the working directory on first use
        from mutmut.mutation.diff_apply import get_diff_for_mutant
        from mutmut.stats import status_by_exit_code
        from mutmut.utils.format_utils import orig_function_and_class_names_from_key

        found = []
        for module in MODULES:
            meta = Path("mutants") / "giftcard" / f"{module}.py.meta"
            if not meta.exists():
                raise SystemExit(f"no results for {module}.py: run `make mutation` first")
            codes = json.loads(meta.read_text())["exit_code_by_key"]
            for name, code in codes.items():
                status = status_by_exit_code[code]
                before = after = ""
                if status not in KILLED | TIMED_OUT:
                    diff = get_diff_for_mutant(name, path=Path("giftcard") / f"{module}.py")
                    changed = diff.splitlines()[2:]  # after the ---/+++ header
                    before = _changed(changed, "-")
                    after = _changed(changed, "+")
                function, cls = orig_function_and_class_names_from_key(name)
                found.append(
                    Mutant(
                        name=name,
                        module=module,
                        function=f"{cls}.{function}" if cls else function,
                        status=status,
                        before=before,
                        after=after,
                    )
                )
    return found


def _changed(diff_lines: list[str], sign: str) -> str:
    return "\n".join(line[1:].strip() for line in diff_lines if line.startswith(sign))


def load_equivalents() -> dict[tuple[str, str, str, str], str]:
    entries = tomllib.loads(EQUIVALENTS.read_text())["equivalent"]
    reviewed = {}
    for entry in entries:
        key = (entry["module"], entry["function"], entry["before"].strip(), entry["after"].strip())
        if not entry.get("reason", "").strip():
            raise SystemExit(f"equivalents.toml: no reason for {key}")
        reviewed[key] = entry["reason"]
    return reviewed


def summarize(mutants: list[Mutant], elapsed: float | None, jobs: int) -> dict[str, Any]:
    reviewed = load_equivalents()
    matched: set[tuple[str, str, str, str]] = set()
    per_module: dict[str, Counter[str]] = {module: Counter() for module in MODULES}
    unreviewed = []
    for mutant in mutants:
        counts = per_module[mutant.module]
        counts["mutants"] += 1
        if mutant.status in KILLED:
            counts["killed"] += 1
        elif mutant.status in TIMED_OUT:
            counts["timed_out"] += 1
        else:
            counts["survived"] += 1
            if mutant.key() in reviewed:
                counts["equivalent"] += 1
                matched.add(mutant.key())
            else:
                unreviewed.append(mutant)

    def figures(counts: Counter[str]) -> dict[str, Any]:
        detectable = counts["mutants"] - counts["equivalent"]
        caught = counts["killed"] + counts["timed_out"]
        return {
            "mutants": counts["mutants"],
            "killed": counts["killed"],
            "survived": counts["survived"],
            "timed_out": counts["timed_out"],
            "equivalent": counts["equivalent"],
            "score": round(100 * caught / counts["mutants"], 1) if counts["mutants"] else None,
            "score_detectable": round(100 * caught / detectable, 1) if detectable else None,
        }

    total: Counter[str] = sum(per_module.values(), Counter())
    stale = sorted(set(reviewed) - matched)
    return {
        "tool": f"mutmut {version('mutmut')}",
        "tests": list(TESTS),
        "workers": jobs,
        "duration_seconds": round(elapsed) if elapsed is not None else None,
        "total": figures(total),
        "equivalent_share": round(total["equivalent"] / total["mutants"], 3),
        "modules": {module: figures(counts) for module, counts in per_module.items()},
        "unreviewed_survivors": [
            {
                "name": m.name,
                "module": m.module,
                "function": m.function,
                "status": m.status,
                "before": m.before,
                "after": m.after,
            }
            for m in unreviewed
        ],
        "stale_equivalents": [
            {"module": k[0], "function": k[1], "before": k[2], "after": k[3]} for k in stale
        ],
    }


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def report(results: dict[str, Any]) -> int:
    total = results["total"]
    print(
        f"{total['mutants']} mutants: {total['killed']} killed, {total['timed_out']} timed out, "
        f"{total['survived']} survived of which {total['equivalent']} reviewed equivalent "
        f"({100 * results['equivalent_share']:.1f} %)"
    )
    print(f"score {total['score']} %, over detectable mutants {total['score_detectable']} %")
    for module, figures in results["modules"].items():
        print(f"  {module:8} {figures['mutants']:4} mutants  {figures['score_detectable']} %")
    if results["duration_seconds"] is not None:
        print(f"took {results['duration_seconds']} s with {results['workers']} workers")
    for entry in results["stale_equivalents"]:
        print(f"note: reviewed equivalent no longer seen: {entry['module']}.{entry['function']}")
    failed = False
    if results["unreviewed_survivors"]:
        failed = True
        print(
            f"\n{len(results['unreviewed_survivors'])} surviving mutants are not reviewed. Add a "
            "test that kills each, or (if no test can observe it) this to "
            "mutation/equivalents.toml with the reason:"
        )
        for entry in results["unreviewed_survivors"]:
            print(
                f"\n[[equivalent]]  # {entry['status']}: {entry['name']}\n"
                f"module = {_toml_string(entry['module'])}\n"
                f"function = {_toml_string(entry['function'])}\n"
                f"before = {_toml_string(entry['before'])}\n"
                f"after = {_toml_string(entry['after'])}\n"
                'reason = ""'
            )
    if results["equivalent_share"] > MAX_EQUIVALENT_SHARE:
        failed = True
        print(f"\nequivalents are over {100 * MAX_EQUIVALENT_SHARE:.0f} % of all mutants")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--report", action="store_true", help="re-read the last run only")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    elapsed = None
    if args.report and RESULTS.exists():
        elapsed = json.loads(RESULTS.read_text()).get("duration_seconds")
    if not args.report:
        stage()
        elapsed = run_mutmut(args.jobs)
    results = summarize(read_mutants(), elapsed, args.jobs)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
