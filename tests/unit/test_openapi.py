"""docs/openapi.json: current with the models, a valid OpenAPI 3.1 document, and true to the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from giftcard import errors
from giftcard.routes import ROUTES, WEBHOOKS
from tools.openapi import (
    DEFAULT_OUTPUT,
    EXAMPLES,
    build_document,
    error_types,
    main,
    render,
)

WEBHOOK_ROUTES = [route for route in ROUTES if route.api == WEBHOOKS]
COMMITTED = DEFAULT_OUTPUT


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def test_committed_document_is_current(document: dict[str, Any]) -> None:
    # Given the document generated from the models now, Then it is the committed one
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    assert committed == render(document), "docs/openapi.json is out of date: run make openapi"


def test_is_a_valid_openapi_3_1_document(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    try:
        from openapi_spec_validator import validate
    except ImportError:  # pragma: no cover - structural checks only
        assert {"info", "paths", "components"} <= set(document)
        return
    validate(document)  # raises on any violation of the 3.1 schema


def test_every_route_is_documented_with_its_errors(document: dict[str, Any]) -> None:
    assert {r.function for r in WEBHOOK_ROUTES} >= {"balance", "issue", "activate", "deactivate"}
    for route in WEBHOOK_ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        responses = operation["responses"]
        assert set(responses) == {"200", "400", "401", "404", "405", "413", "429", "500", "503"}
        for status in set(responses) - {"200"}:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (route.path, status)
        # Each business error the registry names is one the service has, shown as an example.
        assert set(route.errors) <= set(error_types()), route.function
        examples = responses["400"]["content"]["application/json"].get("examples", {})
        assert set(route.errors) <= {e["value"]["error_code"] for e in examples.values()}
        assert route.notes and route.notes in operation["description"]
    # NewStore's document: the operator API (SigV4, /admin/) is not in it.
    assert not [path for path in document["paths"] if path.startswith("/admin")]


def test_api_key_security_scheme_follows_the_configured_header() -> None:
    default = build_document()
    assert default["security"] == [{"apiKey": []}]
    assert default["components"]["securitySchemes"]["apiKey"] == {
        **default["components"]["securitySchemes"]["apiKey"],
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
    }
    custom = build_document(api_key_header="X-Api-Key", server_url="http://127.0.0.1:9")
    assert custom["components"]["securitySchemes"]["apiKey"]["name"] == "X-Api-Key"
    assert custom["servers"] == [{"url": "http://127.0.0.1:9", "description": "This server"}]


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": document["components"]})


def _examples(content: dict[str, Any]) -> list[Any]:
    found = [content["example"]] if "example" in content else []
    return found + [example["value"] for example in content.get("examples", {}).values()]


def test_examples_match_their_schemas(document: dict[str, Any]) -> None:
    checked = 0
    for path, operations in document["paths"].items():
        for operation in operations.values():
            contents = [operation["requestBody"]["content"]["application/json"]]
            contents += [r["content"]["application/json"] for r in operation["responses"].values()]
            for content in contents:
                for example in _examples(content):
                    problems = [
                        e.message
                        for e in _validator(document, content["schema"]).iter_errors(example)
                    ]
                    assert problems == [], path
                    checked += 1
    # Every gift card webhook has its request and 200 examples from docs/examples/.
    for name in ("balance", "issue", "activate", "deactivate"):
        assert (EXAMPLES / f"{name}.request.json").is_file()
        assert (EXAMPLES / f"{name}.response.json").is_file()
    assert checked > 40


def test_request_examples_are_accepted_by_the_models(document: dict[str, Any]) -> None:
    # The examples a reader copies must be requests the service accepts.
    from giftcard.jsonio import loads

    for route in WEBHOOK_ROUTES:
        example = EXAMPLES / f"{route.function}.request.json"
        if not example.is_file():
            continue
        body = loads(example.read_text())
        body.update({name: "abc" for name in ("instrument_id",) if "{instrument_id}" in route.path})
        route.request.model_validate(body)


def test_path_parameters_are_declared_and_not_required_in_the_body(
    document: dict[str, Any],
) -> None:
    for path, operations in document["paths"].items():
        if "{" not in path:
            continue
        operation = operations["post"]
        assert [p["name"] for p in operation["parameters"]] == ["instrument_id"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        assert "instrument_id" not in body["properties"]
        assert "instrument_id" not in body.get("required", [])


def test_documented_error_codes_are_every_code_the_service_answers(
    document: dict[str, Any],
) -> None:
    documented = set(
        document["components"]["schemas"]["ErrorResponse"]["properties"]["error_code"]["enum"]
    )
    answered: set[str] = set()
    pending: list[type[errors.ServiceError]] = [errors.ServiceError]
    while pending:
        kind = pending.pop()
        answered.add(kind.error_code)
        pending.extend(kind.__subclasses__())
    assert answered <= documented
    # And each route's description names the codes it can answer.
    balance = document["paths"]["/gift_card/balance"]["post"]
    assert (
        "`invalid_card`" in balance["description"] and "`card_not_active`" in balance["description"]
    )


def test_check_flag_reports_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    assert main(["--check", str(stale)]) == 1
    assert "run make openapi" in capsys.readouterr().err
    assert main(["--write", str(stale)]) == 0
    assert main(["--check", str(stale)]) == 0
    assert json.loads(stale.read_text())["openapi"] == "3.1.0"
