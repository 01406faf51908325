"""Build the Lambda layer without Docker: ``make build`` -> ``build/layer/python``.

pip downloads the wheels of ``requirements.lock`` (``make lock``: every wheel with its sha256) for
the Lambda runtime (CPython 3.13, manylinux aarch64) whatever the host is, so the layer is the
same on a laptop and in CI; only PyPI is needed. The project's
``shared/giftcard`` package is copied next to the dependencies. Packages the Lambda runtime
already ships (boto3, botocore, s3transfer) and bytecode caches are removed; ``*.dist-info`` is
kept because ``importlib.metadata`` lookups (versions, entry points) read it and it is small.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.13"
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
#: Shipped by the Lambda Python runtime; a second copy only adds size and version skew.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
#: Subpackages the service never imports (of Powertools it uses Logger, Metrics and parameters;
#: of pydantic, not the v1 compatibility copy). Dropping them keeps the layer small;
#: tests/integration/test_layer_contents.py checks that flows through every handler import none.
UNUSED = (
    "aws_lambda_powertools/event_handler",
    "aws_lambda_powertools/utilities/parser",
    "aws_lambda_powertools/utilities/data_classes",
    "aws_lambda_powertools/utilities/idempotency",
    "aws_lambda_powertools/utilities/auth_alpha",
    "aws_lambda_powertools/utilities/feature_flags",
    "aws_lambda_powertools/utilities/circuit_breaker",
    "aws_lambda_powertools/utilities/kafka",
    "aws_lambda_powertools/utilities/batch",
    "aws_lambda_powertools/utilities/streaming",
    "aws_lambda_powertools/utilities/validation",
    "aws_lambda_powertools/utilities/data_masking",
    "pydantic/v1",
)
#: Lambda's limit for a function plus all its layers, unzipped.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024


def platform_flags() -> list[str]:
    """pip's flags for the Lambda runtime's wheels, whatever the host (also ``make lock``)."""
    flags = []
    for platform in PLATFORMS:
        flags += ["--platform", platform]
    return [
        *flags,
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
    ]


def pip_command(lock: Path, target: Path) -> list[str]:
    """Install exactly the lock (``make lock``): every wheel by its hash, nothing resolved anew."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        *platform_flags(),
        "--require-hashes",
        "--no-deps",
        "--no-compile",
        "-r",
        str(lock),
        "--target",
        str(target),
    ]


def strip(site: Path) -> None:
    """Remove what the runtime provides and what is never imported in Lambda."""
    for name in RUNTIME_PROVIDED:
        shutil.rmtree(site / name, ignore_errors=True)
        for info in site.glob(f"{name}-*.dist-info"):
            shutil.rmtree(info)
    shutil.rmtree(site / "bin", ignore_errors=True)
    for unused in UNUSED:
        shutil.rmtree(site / unused, ignore_errors=True)
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    for compiled in site.rglob("*.py[co]"):
        compiled.unlink()


def runtime_python() -> str | None:
    """A working CPython of the Lambda runtime's version: ``LAYER_PYTHON``, ``python3.13`` on the
    PATH, or a pyenv installation. None if there is none."""
    candidates = [os.environ.get("LAYER_PYTHON"), shutil.which(f"python{PYTHON_VERSION}")]
    candidates += sorted(
        str(path)
        for path in Path.home().glob(
            f".pyenv/versions/{PYTHON_VERSION}*/bin/python{PYTHON_VERSION}"
        )
    )
    for candidate in filter(None, candidates):
        probe = subprocess.run(  # noqa: S603 (own arguments)
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == PYTHON_VERSION:
            return candidate
    return None


def compile_bytecode(site: Path, python: str | None) -> bool:
    """Ship ``.pyc`` files for the runtime's Python.

    ``/opt`` is read-only in Lambda, so without them every cold start compiles every module it
    imports again (about 100 ms for this service). ``unchecked-hash`` pycs stay valid whatever
    timestamps the asset packaging gives the sources.
    """
    if python is None:
        return False
    subprocess.run(  # noqa: S603 (own arguments)
        [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(site),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return True


def strip_binaries(site: Path) -> bool:
    """Drop symbol tables from the extension modules (``--strip-unneeded`` keeps what dynamic
    linking needs); cryptography's shrinks by about 3 MB."""
    tool = shutil.which("llvm-strip")
    if tool is None:
        return False
    for library in site.rglob("*.so"):
        subprocess.run([tool, "--strip-unneeded", str(library)], check=True)  # noqa: S603
    return True


def copy_package(source: Path, site: Path) -> None:
    destination = site / source.name
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build(requirements: Path, package: Path, output: Path) -> int:
    """Build the layer directory from scratch; return its unzipped size in bytes."""
    shutil.rmtree(output, ignore_errors=True)
    site = output / "python"
    site.mkdir(parents=True)
    subprocess.run(pip_command(requirements, site), check=True)  # noqa: S603 (own arguments)
    strip(site)
    copy_package(package, site)
    if not strip_binaries(site):
        print("note: llvm-strip not found; extension modules keep their symbols", file=sys.stderr)
    if not compile_bytecode(site, runtime_python()):
        print(
            f"warning: no python{PYTHON_VERSION} found (set LAYER_PYTHON): the layer ships no "
            "bytecode and every cold start compiles it",
            file=sys.stderr,
        )
    return tree_size(output)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--package", type=Path, default=ROOT / "shared" / "giftcard")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "layer")
    args = parser.parse_args(argv)
    size = build(args.requirements, args.package, args.output)
    print(f"layer: {args.output} ({size / 1024 / 1024:.1f} MiB unzipped)")
    if size > MAX_UNZIPPED_BYTES:
        print("layer exceeds Lambda's 250 MiB unzipped limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
