"""Import printed card stock: the operator command that loads inactive physical cards.

    python -m tools.import_stock CSV [--dry-run]
        [--table NAME --keys-secret ID | --stack STACK_NAME]
        [--endpoint-url URL] [--region R]

The CSV has the header ``number,pin`` (pin may be empty). The whole file is validated first; a
file with a rejected row writes nothing. Existing cards are left untouched and counted, so a
re-run is safe. The output names rejected rows by line number, never by card number or PIN.

Exit status: 0 every row accepted; 1 rows rejected (nothing written); 2 unusable input (file,
header, arguments); 3 AWS failure (stack, secret or table not reachable; a re-run is safe).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from giftcard.stock import ImportReport

#: Progress is shown for files with at least this many rows.
PROGRESS_FROM = 1000
#: Characters of the progress bar (on a terminal).
BAR_WIDTH = 30

EXIT_OK, EXIT_REJECTED, EXIT_INPUT, EXIT_AWS = 0, 1, 2, 3


class CommandError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def report_lines(report: ImportReport) -> list[str]:
    """The counts and each rejected row (line number and reason: the reasons never quote a
    number or PIN)."""
    created = "would create" if report.dry_run else "created"
    lines = [
        f"rows: {report.rows}",
        f"{created}: {report.created}",
        f"existing: {report.existing}",
        f"rejected: {len(report.rejected)}",
    ]
    lines += [f"line {rejected.line}: {rejected.reason}" for rejected in report.rejected]
    if report.rejected:
        lines.append("nothing was written: fix the rejected rows and run again")
    elif report.dry_run:
        lines.append("dry run: nothing was written")
    return lines


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="python -m tools.import_stock",
        description=(
            "Import printed gift card stock (CSV with the header 'number,pin'; pin may be empty) "
            "as inactive cards. The whole file is validated first: a file with a rejected row "
            "writes nothing. Existing cards are counted and left untouched, so a re-run is safe. "
            "Card numbers and PINs are never printed."
        ),
        epilog=(
            "Target: --stack reads the table and the key material secret from the deployed "
            "stack's outputs (TableName, KeyMaterialSecretArn); --table/--keys-secret name them "
            "directly; without either, TABLE_NAME and KEYS_SECRET_ID from the environment "
            "apply (defaults giftcards, giftcards/key-material). The local run (make run) prints "
            "the exact command for its moto endpoint. "
            "Exit status: 0 all rows accepted, 1 rows rejected (nothing written), "
            "2 unusable file or arguments, 3 AWS failure (a re-run is safe)."
        ),
    )
    command.add_argument("csv", metavar="CSV", help="the stock file ('-' reads standard input)")
    command.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
    command.add_argument("--table", metavar="NAME", help="DynamoDB table name")
    command.add_argument(
        "--keys-secret", metavar="ID", help="key material secret (name or ARN) in Secrets Manager"
    )
    command.add_argument(
        "--stack", metavar="STACK_NAME", help="read table and secret from this CloudFormation stack"
    )
    command.add_argument(
        "--endpoint-url", metavar="URL", help="AWS endpoint (e.g. the local run's moto)"
    )
    command.add_argument("--region", metavar="R", help="AWS region")
    return command


def configure_aws(endpoint_url: str | None, region: str | None) -> None:
    """Endpoint and region for every client created from now on (the service's clients read the
    standard AWS variables)."""
    from giftcard import http

    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
        import boto3

        if boto3.session.Session().get_credentials() is None:
            # A local endpoint (the local run's moto) accepts any signature; real AWS behind a
            # custom endpoint still needs real credentials, and then these are not used.
            os.environ["AWS_ACCESS_KEY_ID"] = "local"
            os.environ["AWS_SECRET_ACCESS_KEY"] = "local"
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region
        os.environ["AWS_REGION"] = region
    http.reset()


def stack_outputs(stack_name: str) -> tuple[str, str]:
    """(table name, key material secret ARN) from the stack's outputs."""
    from botocore.exceptions import BotoCoreError, ClientError

    from giftcard.aws import client

    try:
        stacks = client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        reason = _aws_reason(exc)
        raise CommandError(f"cannot read stack {stack_name} ({reason})", EXIT_AWS) from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [name for name in ("TableName", "KeyMaterialSecretArn") if name not in outputs]
    if missing:
        raise CommandError(
            f"stack {stack_name} has no output {', '.join(missing)} (is it this service's stack?)",
            EXIT_INPUT,
        )
    return outputs["TableName"], outputs["KeyMaterialSecretArn"]


def target(args: argparse.Namespace) -> tuple[str, str]:
    if args.stack:
        return stack_outputs(args.stack)
    from giftcard.settings import get_settings

    settings = get_settings()
    return args.table or settings.table_name, args.keys_secret or settings.keys_secret_id


class Progress:
    """Progress on stderr for large files (one updating line with a bar on a terminal, a line
    per step otherwise)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False

    def __call__(self, report: ImportReport) -> None:
        valid = report.rows - len(report.rejected)
        if valid < PROGRESS_FROM:
            return
        done = report.created + report.existing
        verb = "checked" if report.dry_run else "imported"
        text = f"{verb} {done}/{valid} cards"
        if self.stream.isatty():
            filled = BAR_WIDTH * done // valid
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.stream.write(f"\r{text} [{bar}] {100 * done // valid}%")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown and self.stream.isatty():
            self.stream.write("\n")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from giftcard.errors import RetryError
    from giftcard.keys import key_material
    from giftcard.repository import Repository
    from giftcard.stock import StockFileError, import_stock
    from giftcard.writes import StorageBusy

    configure_aws(args.endpoint_url, args.region)
    source: Any = None
    progress = Progress(err)
    try:
        try:
            source = (
                sys.stdin if args.csv == "-" else open(args.csv, encoding="utf-8-sig", newline="")  # noqa: SIM115
            )
        except OSError as exc:
            raise CommandError(f"cannot read {args.csv}: {exc.strerror}", EXIT_INPUT) from exc
        try:
            table_name, secret_id = target(args)
            keys = key_material(secret_id, 0)
        except RetryError as exc:
            cause = f": {str(exc.__cause__)[:300]}" if exc.__cause__ is not None else ""
            raise CommandError(
                f"cannot read the key material secret {secret_id} (wrong --keys-secret, no "
                f"access, or no master key in it){cause}",
                EXIT_AWS,
            ) from exc
        report = import_stock(
            source,
            Repository(table_name),
            keys,
            dry_run=args.dry_run,
            progress=progress,
        )
    except StockFileError as exc:
        raise CommandError(f"{args.csv}: {exc}", EXIT_INPUT) from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"{args.csv}: not a UTF-8 text file", EXIT_INPUT) from exc
    except (ClientError, BotoCoreError, StorageBusy) as exc:
        raise CommandError(
            f"AWS failure ({_aws_reason(exc)}); nothing is half-written: run the same command "
            "again (existing cards are counted, not duplicated)",
            EXIT_AWS,
        ) from exc
    finally:
        progress.finish()
        if source is not None and source is not sys.stdin:
            source.close()

    for line in report_lines(report):
        print(line, file=out)
    return EXIT_OK if report.ok else EXIT_REJECTED


def _aws_reason(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return type(cause).__name__


def main(argv: Sequence[str] | None = None) -> int:
    command = parser()
    args = command.parse_args(argv)
    if args.stack and (args.table or args.keys_secret):
        command.error("--stack reads the table and the secret: do not combine it with them")
    try:
        return run(args, sys.stdout, sys.stderr)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status


if __name__ == "__main__":
    sys.exit(main())
