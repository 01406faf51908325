"""The edge: API Gateway proxy event in, proxy response out.

``route_handler(route)`` builds a route's Lambda entry point from its entry in the route registry
(``giftcard.routes``): parse and validate the body into the route's request model, build the
``RequestContext``, run the route's domain function, and turn every error into the
contract's error body in one place (``errors.reply_for``). Clients and settings are built on the
first request and reused while the Lambda is warm.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from giftcard import IN_LAMBDA, aws, cold_start_done, keys
from giftcard.clock import Clock
from giftcard.errors import (
    Forbidden,
    InternalError,
    InvalidRequest,
    PayloadTooLarge,
    ServiceError,
    reply_for,
)
from giftcard.jsonio import (
    MAX_NUMBER_DIGITS,
    MAX_NUMBER_EXPONENT,
    AbsurdNumber,
    JSONError,
    loads,
)
from giftcard.observability import logger, metrics
from giftcard.operation import RequestContext
from giftcard.replies import Reply
from giftcard.repository import Repository
from giftcard.routes import OPERATOR, ROUTE_VARIABLE, ROUTES_BY_FUNCTION, Route
from giftcard.settings import Settings, get_settings

M = TypeVar("M", bound=BaseModel)
Operation = Callable[[Any, RequestContext], Reply]

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class Services:
    """What a warm Lambda keeps between invocations. Tests pass their own."""

    settings: Settings
    repository: Repository
    clock: Clock = field(default_factory=Clock)
    sleep: Callable[[float], None] | None = None

    @classmethod
    def from_environment(cls) -> Services:
        settings = get_settings()
        return cls(settings=settings, repository=Repository(settings.table_name))

    def context(self, request_id: str, key_id: str, actor: str = "") -> RequestContext:
        settings = self.settings
        context = RequestContext(
            settings=settings,
            repository=self.repository,
            keys=keys.key_material(settings.keys_secret_id, settings.secrets_cache_seconds),
            clock=self.clock,
            request_id=request_id,
            key_id=key_id,
            actor=actor or key_id,
        )
        if self.sleep is not None:
            context.sleep = self.sleep
        return context


_services: Services | None = None


def services() -> Services:
    global _services
    if _services is None:
        built = Services.from_environment()
        # The first invocation needs both clients; building them here keeps them inside the
        # cold start, which ends now (see giftcard/__init__.py).
        built.repository.client  # noqa: B018
        aws.client("secretsmanager")
        _services = built
        cold_start_done()
    return _services


def reset() -> None:
    """Forget everything cached in this process (tests; the local run after reconfiguring)."""
    global _services
    _services = None
    get_settings.cache_clear()
    aws.reset_clients()
    keys.secrets.clear()


def response(answer: Reply) -> dict[str, Any]:
    return {"statusCode": answer.status, "headers": dict(JSON_HEADERS), "body": answer.body}


def request_body(event: dict[str, Any], max_bytes: int) -> Any:
    raw = event.get("body")
    if raw is None:
        raise InvalidRequest("The request body must be a JSON object.")
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequest("The request body is not valid base64.") from exc
    else:
        data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise PayloadTooLarge()
    try:
        return loads(data)
    except AbsurdNumber as exc:
        raise InvalidRequest(
            f"A number has more than {MAX_NUMBER_DIGITS} digits"
            f" or an exponent beyond +-{MAX_NUMBER_EXPONENT}."
        ) from exc
    except JSONError as exc:
        raise InvalidRequest("The request body is not valid JSON.") from exc


def validation_message(error: ValidationError) -> str:
    """Where and what, never the offending value (it may be a card number or PIN)."""
    problems = []
    for detail in error.errors(include_input=False, include_url=False)[:3]:
        where = ".".join(str(part) for part in detail["loc"]) or "body"
        what = _FRIENDLY.get(detail["type"], detail["msg"])
        problems.append(f"{where}: {what}")
    return "Invalid request: " + "; ".join(problems)


_FRIENDLY = {
    "is_instance_of": "must be a JSON number",
    "decimal_type": "must be a JSON number",
    "decimal_parsing": "must be a JSON number",
    "finite_number": "must be a finite JSON number",
    "string_type": "must be a string",
    "missing": "is required",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
}


def parse(model: type[M], event: dict[str, Any], max_bytes: int) -> M:
    if event.get("httpMethod") == "GET":
        # A GET's request is its query string (operator reports: ?date=...).
        body: Any = dict(event.get("queryStringParameters") or {})
    else:
        body = request_body(event, max_bytes)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    # Path parameters (e.g. {instrument_id}) are part of the request; the path wins over the body.
    for name, value in (event.get("pathParameters") or {}).items():
        body[name] = value
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from exc


def request_identity(event: dict[str, Any], context: Any) -> tuple[str, str]:
    request_context = event.get("requestContext") or {}
    request_id = (
        getattr(context, "aws_request_id", None)
        or request_context.get("requestId")
        or uuid.uuid4().hex
    )
    authorizer = request_context.get("authorizer") or {}
    return str(request_id), str(authorizer.get("key_id") or authorizer.get("principalId") or "")


def route_handler(route: Route) -> Callable[..., dict[str, Any]]:
    """The Lambda entry point ``lambda_handler(event, context, services=None)`` of one route."""
    name, model, operation = route.function, route.request, route.resolve()
    operator = route.api == OPERATOR

    def run(
        event: dict[str, Any], context: Any, injected: Services | None = None
    ) -> dict[str, Any]:
        request_id, key_id = request_identity(event, context)
        # Thread-local keys: the local run serves many requests at once in one process.
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(webhook=name, request_id=request_id, key_id=key_id or None)
        error_code = None  # the dashboard counts answers by it (infra/dashboard.py)
        try:
            actor = ""
            if operator:
                # Behind AWS_IAM the gateway has verified the signature and put the caller here.
                actor = str(
                    ((event.get("requestContext") or {}).get("identity") or {}).get("userArn") or ""
                )
                if not actor:
                    raise Forbidden()
            current = injected or services()
            request = parse(model, event, current.settings.max_body_bytes)
            answer = operation(request, current.context(request_id, key_id, actor))
        except ServiceError as error:
            answer, error_code = reply_for(error), error.error_code
        except Exception:
            logger.exception("unexpected failure")
            answer, error_code = reply_for(InternalError()), InternalError.error_code
        log = logger.warning if answer.status >= 500 else logger.info
        log("request answered", status=answer.status, error_code=error_code)
        return response(answer)

    @metrics.log_metrics
    def lambda_handler(
        event: dict[str, Any], context: Any, services: Services | None = None
    ) -> dict[str, Any]:
        return run(event, context, services)

    lambda_handler.__name__ = f"{name}_handler"
    if IN_LAMBDA:
        # Lambda runs module code in its INIT phase at full CPU speed, while invocations get CPU
        # in proportion to memory: build the clients now rather than in the first request.
        # (Tests and the local run import handlers without it.)
        services()
    return lambda_handler


def handler_from_environment() -> Callable[..., dict[str, Any]]:
    """The entry point of the route this Lambda serves (``functions/route/handler.py``)."""
    name = os.environ.get(ROUTE_VARIABLE, "")
    try:
        route = ROUTES_BY_FUNCTION[name]
    except KeyError:
        raise RuntimeError(f"{ROUTE_VARIABLE}={name!r} names no route in giftcard.routes") from None
    return route_handler(route)
