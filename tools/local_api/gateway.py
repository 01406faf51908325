"""The local gateway: API Gateway (REST API, Lambda proxy integration, REQUEST authorizer) in one
object.

Each request becomes the proxy event API Gateway would send; the real authorizer runs first, then
the route's real handler. Like the deployed stack, an unknown path is 404 before the key check,
a missing or refused key 401, a failing authorizer 503, another method than the route's 405 (after
the key), a crashed handler 500. The body size limit (413) is the HTTP server's (``server.py``):
the WAF in front of the deployed API refuses it before anything else.
"""

from __future__ import annotations

import base64
import fnmatch
import importlib
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from giftcard import errors
from giftcard.http import route_handler
from giftcard.replies import Reply
from giftcard.routes import FINANCE, OPERATOR, ROUTES, Route
from giftcard.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
REGION = "us-east-1"
ACCOUNT = "000000000000"
API_ID = "local"
STAGE = "local"
JSON_TYPE = "application/json"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
#: (method, request target, headers, body) -> the caller's ARN; raises when the signature fails.
OperatorVerifier = Callable[[str, str, list[tuple[str, str]], bytes], str]
#: A local-only app under a path prefix (the operator console): (method, request target, headers,
#: body) -> (status, headers, body).
MountedApp = Callable[
    [str, str, list[tuple[str, str]], bytes | None], tuple[int, Mapping[str, str], bytes]
]


# Routes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServedRoute:
    route: Route
    pattern: re.Pattern[str]
    handler: Handler


def path_pattern(path: str) -> re.Pattern[str]:
    """``/financial_instruments/{instrument_id}/capture`` -> a regex with named groups."""
    parts = re.split(r"({[A-Za-z_][A-Za-z0-9_]*})", path)
    regex = "".join(
        f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(f"^{regex}$")


def load_routes(routes: tuple[Route, ...] = ROUTES) -> tuple[list[ServedRoute], list[str]]:
    """Every route of the registry with the entry point its Lambda runs, and warnings."""
    served: list[ServedRoute] = []
    warnings: list[str] = []
    for route in routes:
        try:
            handler = route_handler(route)
        except Exception as exc:  # a route being written right now must not stop the others
            warnings.append(f"{route.path} not served: {route.operation} fails: {exc!r}")
            continue
        served.append(ServedRoute(route, path_pattern(route.path), handler))
    return served, warnings


def load_authorizer() -> Handler:
    module = importlib.import_module("functions.authorizer.handler")
    handler: Handler = module.lambda_handler
    return handler


class LambdaContext:
    """What Powertools and the handlers read from the Lambda context object."""

    memory_limit_in_mb = 512

    def __init__(self, function: str, request_id: str) -> None:
        self.function_name = f"giftcard-{function}"
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:giftcard-{function}"
        )
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/giftcard-{function}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


# The gateway -------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    key_id: str = ""

    @classmethod
    def of(cls, reply: Reply) -> Answer:
        return cls(reply.status, reply.body.encode(), {"Content-Type": JSON_TYPE})


def error_answer(error: errors.ServiceError) -> Answer:
    return Answer.of(errors.reply_for(error))


def policy_allows(policy: Any, method_arn: str) -> bool:
    """IAM evaluation as API Gateway does it for an authorizer's policy: an explicit Deny wins,
    otherwise some Allow must match the method ARN."""
    if not isinstance(policy, dict):
        return False
    statements = (policy.get("policyDocument") or {}).get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatch.fnmatchcase(method_arn, str(pattern)) for pattern in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


class Gateway:
    """API Gateway (REST, Lambda proxy integration, REQUEST authorizer) in one object."""

    def __init__(
        self,
        settings: Settings,
        routes: list[ServedRoute],
        authorizer: Handler,
        pages: Mapping[str, tuple[str, bytes]] | None = None,
        verify_operator: OperatorVerifier | None = None,
        operator_policies: Mapping[str, str] | None = None,
        operator_pages: Mapping[str, Callable[[], bytes]] | None = None,
    ) -> None:
        self.settings = settings
        self.routes = routes
        self.authorizer = authorizer
        #: SigV4 check of the operator routes (AWS_IAM in the stack); None refuses them all.
        self.verify_operator = verify_operator
        #: Caller ARN -> the managed policy it holds (SUPPORT or FINANCE), as IAM would decide;
        #: a caller not listed holds FINANCE (every operator route).
        self.operator_policies = dict(operator_policies or {})
        #: Local-only signed GET answers under /admin/ with no Lambda in the stack (the recent
        #: events of the local run): path -> a function giving the JSON body.
        self.operator_pages = dict(operator_pages or {})
        #: Local-only GET pages: path -> (content type, body).
        self.pages = dict(pages or {})
        #: Local-only apps by path prefix (``/console``): they answer every method themselves.
        self.mounts: dict[str, MountedApp] = {}

    def match(self, path: str) -> tuple[ServedRoute, dict[str, str]] | None:
        for served in self.routes:
            found = served.pattern.match(path)
            if found:
                return served, found.groupdict()
        return None

    def answer(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        source_ip: str = HOST,
    ) -> Answer:
        """Everything after the 413 check (the server enforces the size before reading)."""
        split = urlsplit(target)
        path = split.path or "/"
        if method in ("GET", "HEAD") and path in self.pages:
            content_type, page = self.pages[path]
            return Answer(200, page, {"Content-Type": content_type})
        for prefix, app in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                status, answer_headers, answer_body = app(method, target, headers, body)
                return Answer(status, answer_body, dict(answer_headers))
        if path in self.operator_pages:
            caller = self._operator(method, target, headers, body)
            if caller is None or method != "GET":
                return error_answer(errors.Forbidden())
            return Answer(200, self.operator_pages[path](), {"Content-Type": JSON_TYPE})
        found = self.match(path)
        if found is None:
            return error_answer(errors.NotFound())
        served, path_parameters = found
        request_id = str(uuid.uuid4())
        single, multi = _header_maps(headers)
        query = parse_qsl(split.query, keep_blank_values=True)
        method_arn = (
            f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/{method}/{path.lstrip('/')}"
        )
        request_context: dict[str, Any] = {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "stage": STAGE,
            "resourcePath": served.route.path,
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": single.get("User-Agent")},
        }
        common = {
            "resource": served.route.path,
            "path": path,
            "httpMethod": method,
            "headers": single,
            "multiValueHeaders": multi,
            "queryStringParameters": dict(query) or None,
            "multiValueQueryStringParameters": _multi(query) or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
        }

        if served.route.api == OPERATOR:
            # AWS_IAM: the signature is checked before anything else; any failure, and a method
            # the route does not have, is API Gateway's 403 (mapped to `forbidden`).
            caller = self._operator(method, target, headers, body)
            if caller is None or method != served.route.method:
                return error_answer(errors.Forbidden())
            held = self.operator_policies.get(caller, FINANCE)
            if held != FINANCE and served.route.policy != held:
                # IAM: the caller's policy does not allow execute-api:Invoke on this method.
                return error_answer(errors.Forbidden())
            request_context["identity"]["userArn"] = caller
            request_context["identity"]["caller"] = caller
            return self._invoke(served, common, request_context, body, request_id, caller)

        # The authorizer: API Gateway's UNAUTHORIZED (401) and AUTHORIZER_FAILURE (503) answers.
        try:
            policy = self.authorizer(
                {
                    "type": "REQUEST",
                    "methodArn": method_arn,
                    **common,
                    "requestContext": request_context,
                },
                LambdaContext("authorizer", str(uuid.uuid4())),
            )
        except Exception as exc:
            if str(exc) == "Unauthorized":
                return error_answer(errors.Unauthorized())
            log_line("ERROR", "authorizer failed", request_id=request_id, error=type(exc).__name__)
            return error_answer(errors.RetryError())
        if not policy_allows(policy, method_arn):
            # The stack maps ACCESS_DENIED to the same 401 as a missing key.
            return error_answer(errors.Unauthorized())
        context = dict(policy.get("context") or {})
        context["principalId"] = policy.get("principalId")
        key_id = str(context.get("key_id") or context["principalId"] or "")

        if method != served.route.method:
            answer = error_answer(errors.MethodNotAllowed())
            answer.key_id = key_id
            return answer

        request_context["authorizer"] = context
        return self._invoke(served, common, request_context, body, request_id, key_id)

    def _operator(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> str | None:
        """The caller's ARN when the request is signed by a known operator, else None."""
        if self.verify_operator is None:
            return None
        try:
            return self.verify_operator(method, target, headers, body or b"")
        except Exception as exc:
            log_line("INFO", "operator request refused", reason=type(exc).__name__)
            return None

    def _invoke(
        self,
        served: ServedRoute,
        common: dict[str, Any],
        request_context: dict[str, Any],
        body: bytes | None,
        request_id: str,
        caller: str,
    ) -> Answer:
        event = {
            **common,
            "requestContext": request_context,
            "body": body.decode("utf-8", "replace") if body else None,
            "isBase64Encoded": False,
        }
        try:
            result = served.handler(event, LambdaContext(served.route.function, request_id))
            answer = _from_proxy_result(result)
        except Exception as exc:
            # In AWS a crashed integration is API Gateway's DEFAULT_5XX, which the stack answers
            # 503 retry_error (a crash may follow a commit; a retry with the same key is safe).
            log_line("ERROR", "handler failed", request_id=request_id, error=type(exc).__name__)
            answer = error_answer(errors.RetryError())
        answer.headers["x-amzn-RequestId"] = request_id
        answer.key_id = caller
        return answer


def _header_maps(headers: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in pairs:
        result.setdefault(name, []).append(value)
    return result


def _from_proxy_result(result: Any) -> Answer:
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise TypeError("malformed Lambda proxy response")
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    return Answer(result["statusCode"], body, headers)


_log_lock = threading.Lock()


def log_line(level: str, message: str, **fields: Any) -> None:
    """One JSON line on stdout, next to the handlers' Powertools lines."""
    record = {
        "level": level,
        "location": "local_gateway",
        "message": message,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "service": "local-gateway",
        **fields,
    }
    with _log_lock:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
