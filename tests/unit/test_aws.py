"""Client creation: botocore's loader without its scan of every service folder (giftcard.aws)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import UnknownServiceError

from giftcard import aws


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fresh clients on a fresh loader (not the test session's shared one: nothing cached)."""
    import botocore.loaders
    import botocore.session

    monkeypatch.setattr(botocore.session, "create_loader", botocore.loaders.create_loader)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.reset_clients()
    yield
    aws.reset_clients()


def _scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from botocore.loaders import Loader

    seen: list[str] = []
    full = Loader.list_available_services

    def counting(self: Any, type_name: str) -> Any:
        seen.append(type_name)
        return full(self, type_name)

    monkeypatch.setattr(Loader, "list_available_services", counting)
    return seen


def test_clients_are_built_without_listing_every_service(
    clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans = _scans(monkeypatch)
    dynamodb = aws.client("dynamodb")
    secrets = aws.client("secretsmanager")
    assert scans == []
    assert dynamodb.meta.service_model.service_name == "dynamodb"
    assert secrets.meta.service_model.service_name == "secretsmanager"
    # Lazily loaded models go through the same loader.
    assert dynamodb.get_paginator("query") is not None


def test_the_models_are_botocores_own(clean: None) -> None:
    import botocore.session

    ours = aws.client("dynamodb").meta.service_model
    stock = botocore.session.get_session().get_service_model("dynamodb")
    assert ours.api_version == stock.api_version
    assert ours.operation_names == stock.operation_names


def test_an_unknown_service_still_gets_botocores_error(
    clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans = _scans(monkeypatch)
    with pytest.raises(UnknownServiceError, match="Valid service names are"):
        aws.client("no-such-service")
    assert scans == ["service-2"]  # the full list, for the message


# The one switch of the cold-start measures (giftcard.coldstart) --------------------------------

_PROBE = (
    "import gc, giftcard, botocore.session\n"
    "from giftcard import coldstart\n"
    "core = botocore.session.get_session()\n"
    "coldstart.tune_loader(core)\n"
    "import os\n"
    "print(gc.isenabled(), type(core.get_component('data_loader')).__name__,"
    " os.environ.get('PYDANTIC_DISABLE_PLUGINS'))\n"
)


@pytest.mark.parametrize(
    ("switch", "expected"),
    [
        (None, "False DirectLoader __all__"),
        ("1", "False DirectLoader __all__"),
        ("0", "True Loader None"),
    ],
)
def test_one_switch_turns_every_cold_start_measure_on_or_off(
    switch: str | None, expected: str
) -> None:
    # Given a process that looks like a Lambda (the runtime sets AWS_LAMBDA_FUNCTION_NAME)
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env.update(AWS_LAMBDA_FUNCTION_NAME="probe", PYTHONPATH=str(root / "shared"))
    env.pop("GIFTCARD_COLD_START_TUNING", None)
    if switch is not None:
        env["GIFTCARD_COLD_START_TUNING"] = switch
    # When giftcard is imported and a botocore session is tuned
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    # Then the GC pause, the loader and the plugin scan skip are all on, or all off
    assert out == expected
