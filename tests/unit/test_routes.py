"""The route registry is the one source: every route names a domain function that exists and
takes (request, context), its errors are the service's, and the Lambda picks its route from the
environment the stack sets."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from giftcard import errors
from giftcard.routes import ROUTE_VARIABLE, ROUTES, ROUTES_BY_FUNCTION, Route

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.function)
def test_each_route_names_a_domain_function_taking_request_and_context(route: Route) -> None:
    operation = route.resolve()
    parameters = list(inspect.signature(operation).parameters.values())
    assert len(parameters) == 2, route.operation
    # The annotation names the route's request model: a route cannot point at another's function.
    assert route.request.__name__ in str(parameters[0].annotation), route.operation


def test_names_and_paths_are_unique_and_errors_are_the_services() -> None:
    assert len(ROUTES_BY_FUNCTION) == len(ROUTES)
    assert len({(r.method, r.path) for r in ROUTES}) == len(ROUTES)
    codes = set()
    pending: list[type[errors.ServiceError]] = [errors.ServiceError]
    while pending:
        kind = pending.pop()
        codes.add(kind.error_code)
        pending.extend(kind.__subclasses__())
    for route in ROUTES:
        assert set(route.errors) <= codes, route.function


def test_a_route_pointing_at_nothing_fails_when_resolved() -> None:
    route = ROUTES[0]
    broken = Route(**{**route.__dict__, "operation": "service:no_such_function"})
    with pytest.raises(AttributeError):
        broken.resolve()


def _import_route_handler(route_name: str | None) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    if route_name is not None:
        env[ROUTE_VARIABLE] = route_name
    probe = "import functions.route.handler as h; print(h.lambda_handler.__name__)"
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_the_route_lambda_serves_the_route_its_environment_names() -> None:
    result = _import_route_handler("instrument_capture")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "instrument_capture_handler"


@pytest.mark.parametrize("value", [None, "no_such_route"])
def test_the_route_lambda_refuses_to_start_without_a_known_route(value: str | None) -> None:
    result = _import_route_handler(value)
    assert result.returncode != 0
    assert f"{ROUTE_VARIABLE}=" in result.stderr and "names no route" in result.stderr
