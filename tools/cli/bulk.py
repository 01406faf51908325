"""The bulk commands' target: the table and the key material, used directly with the operator's
own AWS credentials (a print run of 100,000 cards is not 100,000 API calls).

``--stack`` reads the table and the key material secret from the stack's outputs (``TableName``,
``KeyMaterialSecretArn``); ``--table``/``--keys-secret`` name them; without either, ``TABLE_NAME``
and ``KEYS_SECRET_ID`` from the environment apply (defaults ``giftcards``,
``giftcards/key-material``). ``--endpoint-url`` points every client at another endpoint (the local
run's moto, which ``make run`` prints). All table access goes through the service's repository.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tools.cli.client import (
    OUTPUT_KEYS_SECRET,
    OUTPUT_TABLE,
    aws_reason,
    botocore_session,
    stack_outputs,
)
from tools.cli.failures import EXIT_UNAVAILABLE, CliError

if TYPE_CHECKING:
    from giftcard.keys import KeyMaterial
    from giftcard.repository import Repository

_CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def add_options(parser: argparse.ArgumentParser, *, keys: bool = True) -> None:
    parser.add_argument("--table", metavar="NAME", help="DynamoDB table name")
    if keys:
        parser.add_argument(
            "--keys-secret",
            metavar="ID",
            help="key material secret (name or ARN) in Secrets Manager",
        )
    parser.add_argument(
        "--endpoint-url", metavar="URL", help="AWS endpoint (e.g. the local run's moto)"
    )


@dataclass(frozen=True)
class Target:
    table: str
    keys_secret: str


def configure_aws(args: argparse.Namespace) -> None:
    """Profile, region and endpoint for every client the service's code creates from now on
    (it reads the standard AWS variables)."""
    import boto3

    from giftcard import http

    if args.profile:
        botocore_session(args.profile)  # an unknown profile is a usage error, not a traceback
        # As with the AWS CLI, a named profile wins over credentials in the environment.
        for name in _CREDENTIAL_ENV:
            os.environ.pop(name, None)
        os.environ["AWS_PROFILE"] = args.profile
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
        os.environ["AWS_REGION"] = args.region
    endpoint = getattr(args, "endpoint_url", None)
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        if boto3.session.Session().get_credentials() is None:
            # A local endpoint (the local run's moto) accepts any signature; real AWS behind a
            # custom endpoint still needs real credentials, and then these are not used.
            os.environ["AWS_ACCESS_KEY_ID"] = "local"
            os.environ["AWS_SECRET_ACCESS_KEY"] = "local"
    if boto3.session.Session().region_name is None:
        os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    http.reset()


def target(args: argparse.Namespace) -> Target:
    if args.stack:
        from giftcard.aws import client

        outputs = stack_outputs(
            client("cloudformation"), args.stack, [OUTPUT_TABLE, OUTPUT_KEYS_SECRET]
        )
        return Target(outputs[OUTPUT_TABLE], outputs[OUTPUT_KEYS_SECRET])
    from giftcard.settings import get_settings

    settings = get_settings()
    return Target(
        args.table or settings.table_name,
        getattr(args, "keys_secret", None) or settings.keys_secret_id,
    )


def repository(args: argparse.Namespace) -> Repository:
    """The table's repository (no key material: for commands that never see a number)."""
    from giftcard.repository import Repository

    configure_aws(args)
    return Repository(target(args).table)


def repository_and_keys(args: argparse.Namespace) -> tuple[Repository, KeyMaterial]:
    from giftcard.errors import RetryError
    from giftcard.keys import key_material
    from giftcard.repository import Repository

    configure_aws(args)
    where = target(args)
    try:
        keys = key_material(where.keys_secret, 0)
    except RetryError as exc:
        cause = f": {aws_reason(exc.__cause__)}" if exc.__cause__ is not None else ""
        raise CliError(
            f"cannot read the key material secret {where.keys_secret} (wrong --keys-secret, no "
            f"access, or no master key in it){cause}",
            EXIT_UNAVAILABLE,
        ) from exc
    return Repository(where.table), keys


def storage_failure(exc: BaseException, rerun: str) -> CliError:
    """An AWS failure in the middle of a bulk command: what happened and why a re-run is safe."""
    return CliError(f"AWS failure ({aws_reason(exc)}); {rerun}", EXIT_UNAVAILABLE)
