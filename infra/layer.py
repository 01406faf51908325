"""The shared layer: the ``giftcard`` package plus third-party runtime dependencies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from aws_cdk import Annotations, IgnoreStrategy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
#: The tag of the bytecode the runtime reads (``__pycache__/<module>.cpython-313.pyc``).
BYTECODE_TAG = "cpython-313"
#: What the layer asset leaves out of ``build/layer``: bytecode of any other interpreter (a stray
#: run of the host's Python), never the runtime's own. ``/opt`` is read-only in Lambda, so without
#: the shipped ``.pyc`` every cold start compiles every module again (docs/performance.md).
ASSET_EXCLUDE = ("*.pyc", f"!*.{BYTECODE_TAG}.pyc", "*.pyo")


def shipped_files(asset_dir: Path) -> Iterator[Path]:
    """The files of ``asset_dir`` the layer asset contains, by CDK's own ignore rules (the bench
    measures exactly these; tests/infra checks the synthesized asset against them)."""
    strategy = IgnoreStrategy.glob(str(asset_dir), list(ASSET_EXCLUDE))
    for path in sorted(asset_dir.rglob("*")):
        if path.is_file() and not strategy.ignores(str(path)):
            yield path


class SharedLayer(Construct):
    """A plain ``LayerVersion`` over the directory ``make build`` prepares (no Docker)."""

    def __init__(self, scope: Construct, construct_id: str, *, asset_dir: Path) -> None:
        super().__init__(scope, construct_id)
        if not (asset_dir / "python").is_dir():
            raise FileNotFoundError(
                f"layer directory {asset_dir}/python is missing: run `make build` first "
                "(or pass -c layer_asset_dir=<dir> to synthesize with another directory)"
            )
        if not any((asset_dir / "python").rglob(f"*.{BYTECODE_TAG}.pyc")):
            Annotations.of(self).add_warning_v2(
                "giftcard:layer-without-bytecode",
                f"{asset_dir} holds no {BYTECODE_TAG} bytecode (make build found no python3.13): "
                "every cold start will compile the layer again",
            )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(asset_dir), exclude=list(ASSET_EXCLUDE)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="giftcard package and runtime dependencies (requirements.txt)",
        )
