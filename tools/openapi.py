"""The OpenAPI 3.1 document of the API, generated from the pydantic models and the route table.

    python -m tools.openapi                       print the document
    python -m tools.openapi --write docs/openapi.json
    python -m tools.openapi --check [docs/openapi.json]   exit 1 if the file is out of date

Every route of the route registry (``giftcard.routes.ROUTES``) is documented with its models,
errors and notes; schemas come from the models (one source of truth with the
handlers), error examples from ``giftcard.errors``, request/response examples from
``docs/examples/``. The local run serves the same document at ``/openapi.json``.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from giftcard import errors, models
from giftcard.routes import ROUTES, WEBHOOKS, Route
from tools.generated import generator_main
from tools.openapi_text import (
    API_DESCRIPTION,
    COMMON_ERRORS,
    IDEMPOTENCY_FIELDS,
    IDEMPOTENCY_NOTE,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
DEFAULT_OUTPUT = ROOT / "docs" / "openapi.json"
REF_TEMPLATE = "#/components/schemas/{model}"
SECURITY_SCHEME = "apiKey"
DEFAULT_SERVER = {
    "url": "https://{api_id}.execute-api.{region}.amazonaws.com/{stage}",
    "description": "The deployed stage (`cdk deploy` prints the URL as the stack output ApiUrl).",
    "variables": {
        "api_id": {"default": "abcdef1234", "description": "API Gateway REST API id"},
        "region": {"default": "us-east-1"},
        "stage": {"default": "v1"},
    },
}
PATH_PARAMETER = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")


def error_types() -> dict[str, type[errors.ServiceError]]:
    """error_code -> its error type in ``giftcard.errors`` (the first one, walking down)."""
    found: dict[str, type[errors.ServiceError]] = {}
    pending: list[type[errors.ServiceError]] = [errors.ServiceError]
    while pending:
        kind = pending.pop(0)
        found.setdefault(kind.error_code, kind)
        pending.extend(kind.__subclasses__())
    return found


def error_messages() -> dict[str, str]:
    """error_code -> the fixed message the service answers with."""
    return {code: kind.message for code, kind in error_types().items()}


def _bad_request_description(codes: Sequence[str], mutating: bool) -> str:
    kinds = error_types()
    decided = [c for c in codes if issubclass(kinds[c], errors.BusinessError)]
    about_request = [c for c in codes if c not in decided]
    text = ", ".join(f"`{c}`" for c in about_request) + ": the request itself is refused"
    text += "; never stored, a corrected retry may succeed." if mutating else "."
    if decided:
        text += " " + ", ".join(f"`{c}`" for c in decided) + ": refused against the stored state"
        text += "; stored and replayed under the idempotency key." if mutating else "."
    return text


def business_errors(route: Route) -> tuple[str, ...]:
    return ("invalid_request", *route.errors)


def load_example(name: str) -> Any | None:
    path = EXAMPLES / f"{name}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _error_response(
    description: str, codes: Sequence[str], messages: dict[str, str]
) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": {"$ref": REF_TEMPLATE.format(model="ErrorResponse")}}
    if len(codes) == 1:
        content["example"] = {"error_code": codes[0], "message": messages[codes[0]]}
    else:
        content["examples"] = {
            code: {"value": {"error_code": code, "message": messages[code]}} for code in codes
        }
    return {"description": description, "content": {"application/json": content}}


def _body_schema(
    components: dict[str, Any], ref: dict[str, Any], path_parameters: Sequence[str]
) -> dict[str, Any]:
    """The request body's schema: the model's, minus the fields the path carries."""
    name = ref["$ref"].rsplit("/", 1)[-1]
    schema = components[name]
    carried = [p for p in path_parameters if p in schema.get("properties", {})]
    if not carried:
        return ref
    body = copy.deepcopy(schema)
    for parameter in carried:
        del body["properties"][parameter]
    required = [field for field in body.get("required", []) if field not in carried]
    if required:
        body["required"] = required
    else:
        body.pop("required", None)
    body_name = f"{name}Body"
    body["title"] = body_name
    components[body_name] = body
    return {"$ref": REF_TEMPLATE.format(model=body_name)}


#: What a path parameter is (the OpenAPI document's only word on it).
PATH_PARAMETER_DOCS = {
    "instrument_id": (
        "The `identifier` of the reserve answer: 80 URL-safe characters (A-Z a-z 0-9 - _). Any "
        "other value (another provider's id, an altered id) is an unknown instrument: "
        "`failed_command`. Over 1,024 characters: `invalid_request`."
    ),
}


def _operation(
    route: Route,
    schemas: dict[Any, Any],
    components: dict[str, Any],
    messages: dict[str, str],
) -> dict[str, Any]:
    request_model, response_model = route.request, route.response
    path_parameters = PATH_PARAMETER.findall(route.path)
    codes = business_errors(route)
    key_field = next((f for f in IDEMPOTENCY_FIELDS if f in request_model.model_fields), None)
    mutating = key_field is not None
    description = route.notes or route.summary + "."
    if key_field is not None:
        description += "\n\n" + IDEMPOTENCY_NOTE.format(field=key_field)
    description += "\n\nError codes: " + ", ".join(
        f"`{code}`" for code in (*codes, *(c for _, c, _ in COMMON_ERRORS))
    )

    request_content: dict[str, Any] = {
        "schema": _body_schema(components, schemas[(request_model, "validation")], path_parameters)
    }
    if (example := load_example(f"{route.function}.request")) is not None:
        request_content["example"] = example
    ok_content: dict[str, Any] = {"schema": schemas[(response_model, "serialization")]}
    if (example := load_example(f"{route.function}.response")) is not None:
        ok_content["example"] = example

    responses: dict[str, Any] = {
        "200": {"description": "Success.", "content": {"application/json": ok_content}},
        "400": _error_response(_bad_request_description(codes, mutating), codes, messages),
    }
    for status, code, when in COMMON_ERRORS:
        responses[str(status)] = _error_response(when, [code], messages)

    operation: dict[str, Any] = {
        "operationId": route.function,
        "summary": route.summary,
        "description": description,
        "tags": ["redemption" if route.function.startswith("instrument_") else "gift card"],
        "requestBody": {"required": True, "content": {"application/json": request_content}},
        "responses": responses,
    }
    if path_parameters:
        operation["parameters"] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": PATH_PARAMETER_DOCS.get(name, ""),
                "schema": {"type": "string", "maxLength": 1024},
            }
            for name in path_parameters
        ]
    return operation


def _refs(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str):
            yield ref.rsplit("/", 1)[-1]
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _prune(components: dict[str, Any], paths: dict[str, Any]) -> None:
    """Drop schemas nothing refers to (a request model replaced by its body without the path
    parameters)."""
    used: set[str] = set()
    pending = list(_refs(paths))
    while pending:
        name = pending.pop()
        if name not in used:
            used.add(name)
            pending.extend(_refs(components.get(name, {})))
    for name in set(components) - used:
        del components[name]


def project_version() -> str:
    pyproject = ROOT / "pyproject.toml"
    try:
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0.0.0"


def build_document(
    routes: Iterable[Route] | None = None,
    *,
    server_url: str | None = None,
    api_key_header: str = "Authorization",
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``routes`` (default: every webhook route of the registry;
    the operator API is documented in docs/operations.md)."""
    documented = [
        route for route in (ROUTES if routes is None else routes) if route.api == WEBHOOKS
    ]
    wanted: list[tuple[type[BaseModel], Any]] = [(models.ErrorResponse, "serialization")]
    for route in documented:
        wanted.append((route.request, "validation"))
        wanted.append((route.response, "serialization"))
    schemas, definitions = models_json_schema(
        list(dict.fromkeys(wanted)), ref_template=REF_TEMPLATE
    )
    components: dict[str, Any] = dict(definitions.get("$defs", {}))
    messages = error_messages()

    paths: dict[str, Any] = {}
    for route in documented:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(
            route, schemas, components, messages
        )

    _prune(components, paths)
    server = {"url": server_url, "description": "This server"} if server_url else DEFAULT_SERVER
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gift card provider for NewStore",
            "version": project_version(),
            "description": API_DESCRIPTION.format(header=api_key_header),
        },
        "servers": [server],
        "security": [{SECURITY_SCHEME: []}],
        "tags": [
            {"name": "gift card", "description": "NewStore's Gift Card Provider Webhooks"},
            {"name": "redemption", "description": "NewStore's Payment Provider Webhooks"},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": api_key_header,
                    "description": (
                        "The API key, raw or as `Bearer <key>`. The header name is configurable "
                        "at deploy time (API_KEY_HEADER, default `Authorization`)."
                    ),
                }
            },
            "schemas": dict(sorted(components.items())),
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    return generator_main(
        argv,
        prog="python -m tools.openapi",
        description="Generate the API's OpenAPI 3.1 document.",
        default_output=DEFAULT_OUTPUT,
        root=ROOT,
        make_target="openapi",
        render=lambda: render(build_document()),
    )


if __name__ == "__main__":
    sys.exit(main())
