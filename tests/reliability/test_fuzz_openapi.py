"""Schemathesis against the published OpenAPI document, through the local gateway over HTTP.

Every operation of ``docs/openapi.json`` gets generated requests, valid ones and (negative mode)
schema-violating ones, sent with the API key, without a key, and with a wrong key. Checks on every
answer: never a 5xx (``not_a_server_error``), a documented status code, the documented content
type, and a body that conforms to the documented schema for that status (so every refusal,
including the authorizer's 401, is the contract's error body). Sizes: ~15 examples per operation
and mode in ``make test``, many more in ``make test-long``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.reliability.conftest import PROFILE, size
from tests.reliability.http_support import REQUEST_TIMEOUT, service_log_leaks
from tests.support.calls import Secrets
from tests.support.local_server import LocalApi

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_path(DOCUMENT)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=size(15, 300)
)

WRONG_KEY = "not-the-key-0123456789abcdefghij"
AUTH = {
    "with-key": lambda api: {"Authorization": f"Bearer {api.api_key}"},
    "without-key": lambda api: {},
    "wrong-key": lambda api: {"Authorization": f"Bearer {WRONG_KEY}"},
}


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.trust_env = False  # loopback only: never through a proxy from the environment
        # One connection per request: on a kept-alive loopback connection small writes wait
        # for delayed ACKs (~40 ms each).
        http.headers["Connection"] = "close"
        yield http


@pytest.fixture(scope="module", autouse=True)
def local_run_logs_clean(local_run: LocalApi) -> Iterator[None]:
    """After the module: the local run's log lines hold no key and no card number."""
    yield
    secrets = Secrets()
    secrets.add("API key", local_run.api_key)
    secrets.add("wrong API key", WRONG_KEY)
    found = service_log_leaks(local_run.output(), secrets)
    assert not found, f"the local run's logs contain: {', '.join(found)}"


@pytest.mark.parametrize("auth", sorted(AUTH))
@schema.parametrize()
@settings(PROFILE, max_examples=size(15, 300))
def test_every_answer_is_documented_and_never_a_server_error(
    case: schemathesis.Case, local_run: LocalApi, session: requests.Session, auth: str
) -> None:
    headers = AUTH[auth](local_run)
    if auth != "with-key" and case.headers:
        # A generated Authorization header must not bring the key back in.
        case.headers.pop("Authorization", None)
    response = case.call(
        base_url=local_run.url, session=session, headers=headers, timeout=REQUEST_TIMEOUT
    )
    case.validate_response(response, checks=CHECKS)
    if auth != "with-key":
        assert response.status_code == 401
