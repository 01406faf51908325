"""Offline AWS for tests: moto, the table from the stack's own key schema, the two secrets."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from giftcard import http, table

TABLE = "giftcards-test"
KEYS_SECRET = "giftcards/key-material"
API_KEYS_SECRET = "giftcards/api-keys"
MASTER = "test-master-key-material-0123456789abcdefghijklmnopqrstuvwxyz"
API_KEY = "test-api-key-0123456789abcdefghij"
API_KEY_ID = "key-1"

BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "TABLE_NAME": TABLE,
    "KEYS_SECRET_ID": KEYS_SECRET,
    "API_KEYS_SECRET_ID": API_KEYS_SECRET,
    "POWERTOOLS_METRICS_NAMESPACE": "GiftCards",
    "POWERTOOLS_SERVICE_NAME": "giftcard",
}


def provision(api_keys: Any = None) -> None:
    """Create the table and both secrets in whatever endpoint boto3 currently points at."""
    import boto3

    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(**table.create_table_kwargs(os.environ["TABLE_NAME"]))
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name=KEYS_SECRET, SecretString=json.dumps({"master": MASTER}))
    secrets.create_secret(
        Name=API_KEYS_SECRET,
        SecretString=json.dumps(api_keys or {"keys": [{"id": API_KEY_ID, "key": API_KEY}]}),
    )


@contextmanager
def offline_aws(env: dict[str, str] | None = None) -> Iterator[None]:
    """moto in-process with the service's table and secrets; process caches reset around it."""
    from moto import mock_aws

    saved = dict(os.environ)
    os.environ.update(BASE_ENV)
    os.environ.update(env or {})
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        os.environ.pop(variable, None)
    http.reset()
    try:
        with mock_aws():
            provision()
            yield
    finally:
        http.reset()
        os.environ.clear()
        os.environ.update(saved)
