"""The shared layer: the ``giftcard`` package plus third-party runtime dependencies."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64


class SharedLayer(Construct):
    """A plain ``LayerVersion`` over the directory ``make build`` prepares (no Docker)."""

    def __init__(self, scope: Construct, construct_id: str, *, asset_dir: Path) -> None:
        super().__init__(scope, construct_id)
        if not (asset_dir / "python").is_dir():
            raise FileNotFoundError(
                f"layer directory {asset_dir}/python is missing: run `make build` first "
                "(or pass -c layer_asset_dir=<dir> to synthesize with another directory)"
            )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(asset_dir), exclude=["**/__pycache__", "*.pyc"]),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="giftcard package and runtime dependencies (requirements.txt)",
        )
