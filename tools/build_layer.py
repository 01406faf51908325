"""Build the Lambda layer without Docker: ``make build`` -> ``build/layer/python``.

pip downloads the wheels for the Lambda runtime (CPython 3.13, manylinux aarch64) whatever the
host is, so the layer is the same on a laptop and in CI; only PyPI is needed. The project's
``shared/giftcard`` package is copied next to the dependencies. Packages the Lambda runtime
already ships (boto3, botocore, s3transfer) and bytecode caches are removed; ``*.dist-info`` is
kept because ``importlib.metadata`` lookups (versions, entry points) read it and it is small.
"""

from __future__ import annotations

import argparse
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
#: Powertools subpackages the service never imports (it uses Logger, Metrics and parameters).
#: Dropping them keeps the layer small; tests/integration/test_layer_contents.py checks that a
#: full flow through every handler imports none of them.
POWERTOOLS_UNUSED = (
    "event_handler",
    "utilities/parser",
    "utilities/data_classes",
    "utilities/idempotency",
    "utilities/auth_alpha",
    "utilities/feature_flags",
    "utilities/circuit_breaker",
    "utilities/kafka",
    "utilities/batch",
    "utilities/streaming",
    "utilities/validation",
    "utilities/data_masking",
)
#: Lambda's limit for a function plus all its layers, unzipped.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024


def pip_command(requirements: Path, target: Path) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    command += [
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        "--no-compile",
        "-r",
        str(requirements),
        "--target",
        str(target),
    ]
    return command


def strip(site: Path) -> None:
    """Remove what the runtime provides and what is never imported in Lambda."""
    for name in RUNTIME_PROVIDED:
        shutil.rmtree(site / name, ignore_errors=True)
        for info in site.glob(f"{name}-*.dist-info"):
            shutil.rmtree(info)
    shutil.rmtree(site / "bin", ignore_errors=True)
    for unused in POWERTOOLS_UNUSED:
        shutil.rmtree(site / "aws_lambda_powertools" / unused, ignore_errors=True)
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    for compiled in site.rglob("*.py[co]"):
        compiled.unlink()


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
    return tree_size(output)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
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
