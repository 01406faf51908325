"""Cold start: each handler's import and initialisation, timed in fresh interpreters.

Every sample is a new ``python -S`` process (no site-packages) laid out as Lambda lays out a
function: the function's folder first on ``sys.path`` (``/var/task``), then a directory holding
exactly what the built layer ships (``/opt/python``: links to the same packages in this venv, and
the project's ``shared/giftcard``), then boto3 and its dependencies (the runtime's). So the dev
tools installed in the venv neither slow down nor speed up what is measured. Inside the child,
``time.perf_counter`` brackets three phases:

- ``import``: ``import handler``;
- ``init``: what the first invocation builds before doing any work: the settings, the repository
  and its DynamoDB client, the Secrets Manager client (the authorizer: settings and that client);
- ``first_call``: one real invocation against the loopback moto server (informational: it adds
  the deferred imports, key derivation, one secret read and the request's own round trips).

``import_ratio`` = median(import + init) / median(``import boto3; boto3.client("dynamodb")``),
both measured here, interleaved, in the same run. Interpreter start-up is outside both. The same
ratio in CPU time (``time.process_time``) is kept too: on a busy machine wall-clock samples
wander, CPU time hardly does (and an idle Lambda sandbox spends its init on the CPU).

Two of the service's measures make boto3's own work cheaper (garbage collection paused during a
Lambda cold start, ``giftcard.aws``'s loader without botocore's service-folder scan), which the
plain baseline does not get. So the table also shows the ratio against ``boto3_tuned``: the same
client built through ``giftcard.aws`` in Lambda mode. That one is our code's own share.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import ROOT
from giftcard.routes import ROUTE_VARIABLE, ROUTES_BY_FUNCTION

BASELINE = "boto3"
#: The same baseline given the two measures of ours that make boto3's own work cheaper (garbage
#: collection paused during the cold start, the data loader without the service-folder scan):
#: our code's own share of a cold start is the ratio against this one.
TUNED_BASELINE = "boto3_tuned"
_MARK = "BENCH_RESULT "

_CHILD = r"""
import json, sys, time
name, function_dir, layer_dir, runtime_dir = sys.argv[1:5]
sys.path[:0] = [runtime_dir]
if name == "boto3":
    cpu, start = time.process_time(), time.perf_counter()
    import boto3
    boto3.client("dynamodb", region_name="us-east-1")
    done, cpu_done = time.perf_counter(), time.process_time()
    print("BENCH_RESULT " + json.dumps(
        {"import": done - start, "init": 0.0, "first_call": 0.0, "cpu": cpu_done - cpu}
    ))
    raise SystemExit(0)
if name == "boto3_tuned":
    sys.path[:0] = [layer_dir]
    cpu, start = time.process_time(), time.perf_counter()
    from giftcard import aws
    aws.client("dynamodb")
    done, cpu_done = time.perf_counter(), time.process_time()
    print("BENCH_RESULT " + json.dumps(
        {"import": done - start, "init": 0.0, "first_call": 0.0, "cpu": cpu_done - cpu}
    ))
    raise SystemExit(0)

sys.path[:0] = [function_dir, layer_dir]
event = json.loads(sys.stdin.read())

# Not tests.support.events.LambdaContext: this child has only the function and the layer on its
# path, as in Lambda, so that the import it times is the function's alone.
class Context:
    function_name = name
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + name
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    def get_remaining_time_in_millis(self):
        return 60000

cpu, start = time.process_time(), time.perf_counter()
import handler
imported = time.perf_counter()
from giftcard import aws
if name == "authorizer":
    from giftcard.settings import get_settings
    get_settings()
else:
    from giftcard import http
    http.services().repository.client
aws.client("secretsmanager")
initialised, cpu_done = time.perf_counter(), time.process_time()
try:
    handler.lambda_handler(event, Context())
except Exception as exc:  # an API Gateway "Unauthorized" is an answer too
    if str(exc) != "Unauthorized":
        raise
called = time.perf_counter()
print("BENCH_RESULT " + json.dumps({
    "import": imported - start, "init": initialised - imported, "first_call": called - initialised,
    "cpu": cpu_done - cpu,
}))
"""


def first_events() -> dict[str, dict[str, Any]]:
    """The first request each handler gets in the child (cheap, realistic, no setup needed)."""
    from giftcard.routes import ROUTES
    from tests.support.aws import API_KEY
    from tests.support.events import authorizer_event, proxy_event

    unknown = "7777000000000001"  # Luhn-valid, never issued
    bodies: dict[str, dict[str, Any]] = {
        "balance": {"identifier": {"number": unknown, "pin": "1234"}},
        "issue": {
            "amount": {"value": 50, "currency": "USD"},
            "customer": {"id": "64810476", "name": "Jay Doubleyou"},
        },
        "activate": {"card_number": unknown, "amount": {"value": 25, "currency": "USD"}},
        "deactivate": {"card_number": unknown},
        "instrument_create": {
            "idempotency_key": "cold-start",
            "instrument": {"number": unknown, "pin": "1234"},
            "amount": 10,
            "currency": "USD",
        },
    }
    for operation in ("capture", "refund", "revoke"):
        bodies[f"instrument_{operation}"] = {
            "instrument_id": "A" * 80,
            "idempotency_key": "cold-start",
            "amount": 10,
            "currency": "USD",
        }
    events: dict[str, dict[str, Any]] = {
        "authorizer": authorizer_event({"Authorization": API_KEY}),
        "reservation_expiry": {"id": "cold-start", "source": "aws.events"},
    }
    for route in ROUTES:
        if route.function in bodies:
            event = proxy_event(route.path, bodies[route.function])
            if "{instrument_id}" in route.path:
                event["pathParameters"] = {"instrument_id": "A" * 80}
            events[route.function] = event
    return events


@dataclass
class Samples:
    imports: list[float] = field(default_factory=list)
    inits: list[float] = field(default_factory=list)
    first_calls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    def add(self, result: Mapping[str, float]) -> None:
        self.imports.append(result["import"])
        self.inits.append(result["init"])
        self.first_calls.append(result["first_call"])
        self.cpus.append(result["cpu"])

    @property
    def cold(self) -> float:
        """Median of import + init (seconds)."""
        return statistics.median(a + b for a, b in zip(self.imports, self.inits, strict=True))

    def median(self, phase: str) -> float:
        return statistics.median(getattr(self, phase))


@dataclass(frozen=True)
class Layout:
    """Directories a child interpreter imports from, as in Lambda."""

    layer: Path  #: /opt/python: what the built layer ships
    runtime: Path  #: the runtime's boto3 and its dependencies
    faithful: bool  #: False: no built layer, the venv's site-packages stand in (less exact)


def _top_level(distribution: Any) -> set[str]:
    names = set()
    for file in distribution.files or []:
        first = file.parts[0]
        if first not in ("..", "__pycache__", "bin") and not first.endswith(".dist-info"):
            names.add(first)
    return names


def _closure(name: str, seen: dict[str, Any] | None = None) -> dict[str, Any]:
    import importlib.metadata as metadata
    import re

    seen = {} if seen is None else seen
    distribution = metadata.distribution(name)
    key = distribution.metadata["Name"].lower()
    if key not in seen:
        seen[key] = distribution
        for requirement in distribution.requires or []:
            if "extra ==" not in requirement:
                _closure(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0], seen)
    return seen


def _link(source: Path, target_dir: Path) -> None:
    target = target_dir / source.name
    if not target.exists():
        target.symlink_to(source, target_is_directory=source.is_dir())


@contextmanager
def lambda_layout(built_layer: Path) -> Iterator[Layout]:
    """Temporary layer and runtime directories linking to this venv's copies of the packages the
    built layer ships (``build/layer/python``) and of boto3's closure."""
    import site

    site_packages = Path(site.getsitepackages()[0])
    base = Path(tempfile.mkdtemp(prefix="bench-lambda-"))
    layer, runtime = base / "opt-python", base / "runtime"
    layer.mkdir()
    runtime.mkdir()
    try:
        for distribution in _closure("boto3").values():
            for name in _top_level(distribution):
                _link(site_packages / name, runtime)
            _link(Path(distribution._path), runtime)
        faithful = built_layer.is_dir()
        if faithful:
            for entry in sorted(built_layer.iterdir()):
                if entry.name == "giftcard":
                    continue
                if entry.suffix == ".so":  # a compiled module: this platform's build of it
                    stem = entry.name.split(".")[0]
                    for local in site_packages.glob(f"{stem}.*.so"):
                        _link(local, layer)
                elif (site_packages / entry.name).exists():
                    _link(site_packages / entry.name, layer)
        else:
            for entry in site_packages.iterdir():
                if not (runtime / entry.name).exists():
                    _link(entry, layer)
        _link(ROOT / "shared" / "giftcard", layer)
        yield Layout(layer=layer, runtime=runtime, faithful=faithful)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def function_dir(name: str) -> Path:
    """The folder the stack deploys as ``name``'s code (a route's Lambda runs functions/route)."""
    return ROOT / "functions" / ("route" if name in ROUTES_BY_FUNCTION else name)


def function_env(name: str, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` plus what the stack sets for this function (a route's GIFTCARD_ROUTE)."""
    return {**env, **({ROUTE_VARIABLE: name} if name in ROUTES_BY_FUNCTION else {})}


def run_child(
    name: str,
    layout: Layout,
    env: Mapping[str, str],
    event: Mapping[str, Any] | None = None,
    *,
    flags: tuple[str, ...] = (),
) -> dict[str, float]:
    completed = subprocess.run(
        [
            sys.executable,
            "-S",
            *flags,
            "-c",
            _CHILD,
            name,
            str(function_dir(name)),
            str(layout.layer),
            str(layout.runtime),
        ],
        input=json.dumps(event or {}),
        capture_output=True,
        text=True,
        env=function_env(name, env),
        cwd=str(ROOT),
        timeout=120,
        check=False,
    )
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK) :])  # type: ignore[no-any-return]
    # The child's own error, without its stdout (handlers log JSON there).
    tail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
    raise RuntimeError(f"cold-start child for {name} failed: {tail[0]}")


def child_env(base: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONHASHSEED"] = "0"
    # What the Lambda runtime sets: the service pauses garbage collection during its cold start
    # only inside Lambda (giftcard/__init__.py).
    env["AWS_LAMBDA_FUNCTION_NAME"] = "bench"
    return env


def measure(
    names: list[str], layout: Layout, env: Mapping[str, str], runs: int
) -> dict[str, Samples]:
    """``runs`` fresh interpreters per handler and for the baseline, interleaved round by round
    (slow drift of the machine hits every subject alike). One unmeasured round first: bytecode
    caches written, files in the page cache."""
    events = first_events()
    subjects = [BASELINE, TUNED_BASELINE, *names]
    env = child_env(env)
    for name in subjects:
        run_child(name, layout, env, events.get(name))
    samples = {name: Samples() for name in subjects}
    for _ in range(runs):
        for name in subjects:
            samples[name].add(run_child(name, layout, env, events.get(name)))
    return samples


def measure_without_bytecode(
    names: list[str], layout: Layout, env: Mapping[str, str], runs: int
) -> dict[str, Samples]:
    """The same with no bytecode for the layer and the function: what Lambda does with a layer
    shipped without ``.pyc`` (``/opt`` is read-only, so every cold start compiles them again).

    A private ``PYTHONPYCACHEPREFIX`` is filled by one full run, then the layer's and the
    functions' entries are removed from it; the measured children run with ``-B`` (read caches,
    never write), so only the stdlib and boto3 keep their bytecode, as in the Lambda runtime.
    """
    prefix = Path(tempfile.mkdtemp(prefix="bench-pycache-"))
    try:
        env = {**child_env(env), "PYTHONPYCACHEPREFIX": str(prefix)}
        events = first_events()
        for name in [BASELINE, *names]:
            run_child(name, layout, env, events.get(name))
        for path in (layout.layer, ROOT / "functions"):
            shutil.rmtree(prefix / str(path.absolute()).lstrip(os.sep), ignore_errors=True)
        samples = {name: Samples() for name in names}
        for _ in range(runs):
            for name in names:
                samples[name].add(run_child(name, layout, env, events.get(name), flags=("-B",)))
        return samples
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


#: The cold start of a webhook, step by step in the order the handler pays it (CPU ms, marginal).
BREAKDOWN: tuple[tuple[str, str], ...] = (
    (
        "stdlib modules the service uses",
        "import json, dataclasses, decimal, enum, typing, re, hashlib, hmac, secrets, uuid, "
        "base64, logging, threading, datetime",
    ),
    ("pydantic: import", "import pydantic"),
    (
        "pydantic: first model class (schema machinery, plugin lookup via importlib.metadata)",
        "class _First(pydantic.BaseModel):\n    x: int",
    ),
    ("Powertools Logger + Metrics", "import giftcard.observability"),
    ("giftcard modules and the handler", "import handler"),
    ("boto3: import", "import boto3.dynamodb.types"),
    (
        "DynamoDB client (giftcard.aws)",
        "from giftcard import http\nhttp.services().repository.client",
    ),
    (
        "Secrets Manager client (giftcard.aws)",
        "from giftcard import aws\naws.client('secretsmanager')",
    ),
)


def breakdown(
    name: str, layout: Layout, env: Mapping[str, str], runs: int
) -> list[tuple[str, float]]:
    """Median CPU time of each ``BREAKDOWN`` step in fresh interpreters (``python -S``)."""
    steps = "\n".join(f"{code}\nT.append(time.process_time())" for _, code in BREAKDOWN)
    child = (
        "import sys, time\n"
        f"sys.path[:0] = [{str(function_dir(name))!r}, {str(layout.layer)!r}, "
        f"{str(layout.runtime)!r}]\n"
        "T = [time.process_time()]\n"
        f"{steps}\n"
        "print('BENCH_RESULT ' + ' '.join(str(b - a) for a, b in zip(T, T[1:])))\n"
    )
    env = function_env(name, child_env(env))
    # Outside "Lambda" the handler builds no clients at import and collection stays on, so each
    # step shows its own cost (the ratio above is measured as in Lambda).
    env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    found: list[list[float]] = [[] for _ in BREAKDOWN]
    for run in range(runs + 1):
        completed = subprocess.run(
            [sys.executable, "-S", "-c", child],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(ROOT),
            timeout=120,
            check=False,
        )
        line = next(
            (x for x in completed.stdout.splitlines() if x.startswith(_MARK)),
            None,
        )
        if line is None:
            tail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"breakdown child failed: {tail[0]}")
        if run:  # the first run writes bytecode caches
            for index, value in enumerate(line[len(_MARK) :].split()):
                found[index].append(float(value))
    return [
        (label, statistics.median(values))
        for (label, _), values in zip(BREAKDOWN, found, strict=True)
    ]
