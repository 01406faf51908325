"""At DEBUG, no secret reaches the logs (issue 11): botocore prints every response body at DEBUG,
and Secrets Manager's ``GetSecretValue`` answer is the key material or the API keys. The AWS SDK's
loggers are pinned to WARNING whatever the root logger's level (``observability``), in Lambda and
in the local run."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from functions.authorizer.handler import lambda_handler as authorizer
from giftcard import keys
from giftcard.settings import get_settings
from tests.support.aws import API_KEY, MASTER
from tests.support.calls import invoke
from tests.support.events import LambdaContext


@pytest.fixture
def root_at_debug(aws: None) -> Iterator[io.StringIO]:
    """The root logger at DEBUG (Lambda's AWS_LAMBDA_LOG_LEVEL=DEBUG, a developer's basicConfig),
    with a handler that keeps everything any logger sends it."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    saved = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


def test_secret_values_never_reach_debug_logs(
    root_at_debug: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = get_settings()
    # Given the root logger at DEBUG
    # When the service reads both secrets from Secrets Manager through its own loading
    material = keys.key_material(settings.keys_secret_id, max_age=0)
    secret = keys.secrets.get(settings.api_keys_secret_id, max_age=0)
    assert material.lookup_key and secret["keys"][0]["key"] == API_KEY
    # And the authorizer checks an API key and a webhook runs (building its clients cold)
    event = {"type": "REQUEST", "methodArn": "arn:x", "headers": {"Authorization": API_KEY}}
    assert authorizer(event, LambdaContext())["principalId"]
    answer = invoke("balance", {"identifier": {"number": "7777000000000001"}})
    assert answer.status == 400
    # Then neither the key material nor the API key appears in any log line or printed output
    printed = capsys.readouterr()
    for where, text in (("logs", root_at_debug.getvalue()), ("output", printed.out + printed.err)):
        # (``not (x in y)``: pytest would print the text around a secret it found)
        assert not (MASTER in text), f"key material in {where}"  # noqa: E713
        assert not (API_KEY in text), f"API key in {where}"  # noqa: E713
    # And the SDK's loggers stay at WARNING even though the root logger is at DEBUG
    for name in ("botocore", "boto3", "urllib3"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
