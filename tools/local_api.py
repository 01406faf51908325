"""The whole API on 127.0.0.1, without AWS: ``make run`` (``python -m tools.local_api``).

moto serves DynamoDB and Secrets Manager; a small local gateway turns each HTTP request into an
API Gateway REST proxy event, runs the real authorizer and the real handler of the route, and
writes the handler's answer. Same code paths as the deployed API; only the endpoint differs.

Like the deployed stack (WAF, then API Gateway, then the authorizer), the gateway answers:
body over the limit -> 413; unknown path -> 404; then the API key (401, or 503 when the
authorizer fails); another method than POST on a known path -> 405; then the route's handler.

Environment:
  PORT       port to listen on (default 8000; 0 picks a free one)
  API_KEY    the API key to accept (default: a new random key, printed)
  STOCK_CSV  printed card stock (CSV ``number,pin``) to import at start
  and every deployment setting (TABLE_NAME, API_KEY_HEADER, PIN_LENGTH, ...; see the README).
"""

from __future__ import annotations

import base64
import fnmatch
import html
import importlib
import json
import logging
import os
import re
import secrets
import shlex
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from giftcard import errors, table
from giftcard.observability import quiet_sdk_loggers
from giftcard.replies import Reply
from giftcard.routes import ROUTES, Route
from giftcard.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
REGION = "us-east-1"
ACCOUNT = "000000000000"
API_ID = "local"
STAGE = "local"
#: Fake credentials: boto3 signs every request, moto accepts any signature.
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
#: Never reach a real account from the local run, whatever the shell has configured.
UNSET_AWS_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
JSON_TYPE = "application/json"
#: A body over the limit is read and thrown away (so the client can read the 413) up to this.
DISCARD_LIMIT = 16 * 1024 * 1024

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


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
    """The routes whose function exists (``functions/<name>/handler.py``), and warnings."""
    served: list[ServedRoute] = []
    warnings: list[str] = []
    for route in routes:
        if not (ROOT / "functions" / route.function / "handler.py").is_file():
            continue
        try:
            module = importlib.import_module(f"functions.{route.function}.handler")
            handler = module.lambda_handler
        except Exception as exc:  # a function being written right now must not stop the others
            warnings.append(f"{route.path} not served: functions/{route.function} fails: {exc!r}")
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
    ) -> None:
        self.settings = settings
        self.routes = routes
        self.authorizer = authorizer
        #: Local-only GET pages: path -> (content type, body).
        self.pages = dict(pages or {})

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
            _log_line("ERROR", "authorizer failed", request_id=request_id, error=type(exc).__name__)
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
            # In AWS a crashed integration is API Gateway's DEFAULT_5XX; the contract says 500.
            _log_line("ERROR", "handler failed", request_id=request_id, error=type(exc).__name__)
            answer = error_answer(errors.InternalError())
        answer.headers["x-amzn-RequestId"] = request_id
        answer.key_id = key_id
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


def _log_line(level: str, message: str, **fields: Any) -> None:
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


# The HTTP server ---------------------------------------------------------------------------------


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    #: Listen backlog: a burst of connections queues instead of being reset.
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        super().__init__(address, RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up or stalls mid-request is its own business, not a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class BodyTooLarge(Exception):
    pass


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "giftcard-local-gateway"
    #: Idle keep-alive connections are closed after this many seconds.
    timeout = 60
    server: LocalServer

    def __getattr__(self, name: str) -> Any:
        # Every method, known or not, goes through the gateway (404/405 like API Gateway).
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self) -> None:
        started = time.monotonic()
        gateway = self.server.gateway
        limit = gateway.settings.max_body_bytes
        try:
            body = self._read_body(limit)
        except BodyTooLarge:
            # The WAF rule in front of the deployed API: before routing and before the key.
            self._send(error_answer(errors.PayloadTooLarge()), close=True)
            self._discard_rest()
            self._access_log(413, started)
            return
        except ValueError:
            self._send(error_answer(errors.InvalidRequest()), close=True)
            self._access_log(400, started)
            return
        answer = gateway.answer(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        self._send(answer)
        self._access_log(answer.status, started, answer.key_id)

    def _read_body(self, limit: int) -> bytes | None:
        self._unread: int | None = 0
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return None
        if not raw_length.strip().isdigit():
            raise ValueError("bad Content-Length")
        length = int(raw_length)
        if length > limit:
            self._unread = length
            raise BodyTooLarge()
        return self.rfile.read(length) if length else b""

    def _read_chunked(self, limit: int) -> bytes:
        data = bytearray()
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise ValueError("bad chunk size") from exc
            if size == 0:
                while self.rfile.readline(8192).strip():  # trailers
                    pass
                return bytes(data)
            if len(data) + size > limit:
                self._unread = None  # unknown: close the connection after answering
                raise BodyTooLarge()
            data += self.rfile.read(size)
            self.rfile.readline(8)  # CRLF after the chunk

    def _discard_rest(self) -> None:
        """Read (and drop) a too-large body so the client, still sending, can read the 413."""
        remaining = self._unread if self._unread is not None else DISCARD_LIMIT
        remaining = min(remaining, DISCARD_LIMIT)
        try:
            self.connection.settimeout(2)
            while remaining > 0:
                chunk = self.rfile.read(min(65536, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass

    def _send(self, answer: Answer, close: bool = False) -> None:
        self.send_response(answer.status)
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)
        self.wfile.flush()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed requests (bad request line, header too long...): the contract's body too.
        error = errors.InvalidRequest()
        error.status = code if 400 <= code < 500 else 400
        self._send(error_answer(error), close=True)

    def _access_log(self, status: int, started: float, key_id: str = "") -> None:
        # Like the stage's access log: no body, no header value (the key never reaches logs).
        _log_line(
            "INFO",
            "access",
            httpMethod=self.command,
            path=urlsplit(self.path).path,
            status=status,
            responseLatency=round((time.monotonic() - started) * 1000, 1),
            keyId=key_id or None,
        )

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the JSON access log above replaces http.server's stderr lines


# The documentation page --------------------------------------------------------------------------


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _paragraphs(text: str) -> str:
    paragraphs = (" ".join(p.split()) for p in text.split("\n\n"))
    return "".join(f"<p>{_inline(p)}</p>" for p in paragraphs if p)


def _json_block(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    linked = re.sub(
        r"&quot;#/components/schemas/([A-Za-z0-9_.-]+)&quot;",
        r'&quot;<a href="#schema-\1">#/components/schemas/\1</a>&quot;',
        html.escape(text),
    )
    return f"<pre>{linked}</pre>"


def _schema_block(document: dict[str, Any], schema: dict[str, Any]) -> str:
    """A schema shown in full: a reference is resolved one level (nested ones are links)."""
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return _json_block(schema)
    name = ref.rsplit("/", 1)[-1]
    resolved = document["components"]["schemas"].get(name, schema)
    return f"<p>Schema <a href='#schema-{html.escape(name)}'>{html.escape(name)}</a>:</p>" + (
        _json_block(resolved)
    )


def docs_page(document: dict[str, Any]) -> str:
    """The OpenAPI document as one self-contained HTML page (no script, no CDN)."""
    info = document["info"]
    scheme = next(iter(document["components"]["securitySchemes"].values()))
    server = document["servers"][0]["url"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(info['title'])}</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem;color:#222}pre{background:#f5f5f5;padding:.6rem;overflow:auto;"
        "font-size:13px}code{background:#f0f0f0;padding:0 .2rem}h2{border-top:1px solid #ccc;"
        "padding-top:1rem}.m{background:#2a7;color:#fff;padding:0 .4rem;border-radius:3px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;"
        "text-align:left;vertical-align:top}</style></head><body>",
        f"<h1>{html.escape(info['title'])} <small>{html.escape(info['version'])}</small></h1>",
        _paragraphs(info.get("description", "")),
        f"<p>Base URL: <code>{html.escape(server)}</code>. "
        f"API key header: <code>{html.escape(scheme['name'])}: Bearer &lt;key&gt;</code> "
        "(or the raw key). The machine-readable document: "
        "<a href='/openapi.json'>/openapi.json</a>.</p>",
        "<h2>Endpoints</h2><ul>",
    ]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            parts.append(
                f"<li><a href='#{html.escape(operation['operationId'])}'>"
                f"{method.upper()} {html.escape(path)}</a> — "
                f"{html.escape(operation['summary'])}</li>"
            )
    parts.append("</ul>")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            parts.append(
                f"<h2 id='{html.escape(operation['operationId'])}'><span class='m'>"
                f"{method.upper()}</span> <code>{html.escape(path)}</code></h2>"
                f"<p><strong>{html.escape(operation['summary'])}</strong></p>"
                + _paragraphs(operation.get("description", ""))
            )
            for parameter in operation.get("parameters", []):
                parts.append(
                    f"<p>Path parameter <code>{html.escape(parameter['name'])}</code> "
                    "(string, required).</p>"
                )
            request = operation["requestBody"]["content"][JSON_TYPE]
            parts.append("<h3>Request body</h3>" + _schema_block(document, request["schema"]))
            if "example" in request:
                parts.append("<p>Example:</p>" + _json_block(request["example"]))
                body = json.dumps(request["example"])
                parts.append(
                    "<p>Try it:</p><pre>"
                    + html.escape(
                        f"curl -sS -X {method.upper()} {server}{path} "
                        f"-H '{scheme['name']}: Bearer <key>' -H 'Content-Type: {JSON_TYPE}' "
                        f"-d {shlex.quote(body)}"
                    )
                    + "</pre>"
                )
            parts.append("<h3>Responses</h3><table><tr><th>status</th><th>meaning</th></tr>")
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get(JSON_TYPE, {})
                examples = [content["example"]] if "example" in content else []
                examples += [e["value"] for e in content.get("examples", {}).values()]
                cell = _inline(response["description"])
                if status == "200":
                    cell += _schema_block(document, content.get("schema", {}))
                cell += "".join(_json_block(example) for example in examples)
                parts.append(f"<tr><td>{html.escape(status)}</td><td>{cell}</td></tr>")
            parts.append("</table>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(f"<h3 id='schema-{html.escape(name)}'>{html.escape(name)}</h3>")
        parts.append(_json_block(schema))
    parts.append("</body></html>")
    return "\n".join(parts)


# Start-up ----------------------------------------------------------------------------------------


class Serialized:
    """A WSGI app that handles one request at a time.

    DynamoDB applies each request atomically; moto does not under concurrent requests (a
    transaction checks, writes, and on failure restores what it touched while another request
    changes the same items: two conditional writes can both pass). One request at a time makes
    moto's answers DynamoDB's.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self.lock:
            return list(self.app(environ, start_response))


def serialize_moto(moto: Any) -> None:
    server = moto._server  # ThreadedMotoServer keeps its werkzeug server here
    if server is None or not hasattr(server, "app"):
        raise RuntimeError("unexpected moto version: cannot serialize its server")
    server.app = Serialized(server.app)


def prepare_environment(moto_endpoint: str) -> None:
    """Point every boto3 client of this process at moto, before any client exists."""
    from giftcard import http

    for name in UNSET_AWS_ENV:
        os.environ.pop(name, None)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            del os.environ[name]
    os.environ.update(LOCAL_AWS_ENV)
    os.environ["AWS_ENDPOINT_URL"] = moto_endpoint
    # moto is on loopback: never through a proxy the shell may have configured.
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = ",".join(filter(None, [os.environ.get(name), HOST, "localhost"]))
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "giftcard")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "GiftCards")
    http.reset()


def provision(settings: Settings, api_key: str) -> None:
    """The table (same key schema as the stack) and the two secrets, in moto."""
    from giftcard.aws import client

    client("dynamodb").create_table(**table.create_table_kwargs(settings.table_name))
    secretsmanager = client("secretsmanager")
    secretsmanager.create_secret(
        Name=settings.keys_secret_id,
        SecretString=json.dumps({"master": secrets.token_urlsafe(48)[:64]}),
    )
    secretsmanager.create_secret(
        Name=settings.api_keys_secret_id,
        SecretString=json.dumps({"keys": [{"id": "local", "key": api_key}]}),
    )


def import_stock_file(path: str, settings: Settings) -> int:
    """Import STOCK_CSV; 0 when every row was accepted (the report is printed either way)."""
    from giftcard.keys import key_material
    from giftcard.repository import Repository
    from giftcard.stock import StockFileError, import_stock
    from tools.import_stock import Progress, report_lines

    progress = Progress(sys.stderr)
    began = time.monotonic()
    try:
        with open(path, encoding="utf-8-sig", newline="") as lines:
            report = import_stock(
                lines,
                Repository(settings.table_name),
                key_material(settings.keys_secret_id, 0),
                progress=progress,
            )
    except (OSError, UnicodeDecodeError, StockFileError) as exc:
        print(f"STOCK_CSV {path}: {exc}", file=sys.stderr)
        return 2
    finally:
        progress.finish()
    print(f"Printed card stock from {path} (imported in {time.monotonic() - began:.1f} s):")
    for line in report_lines(report):
        print(f"  {line}")
    return 0 if report.ok else 1


def _python() -> str:
    executable = Path(sys.executable)
    try:
        return str(executable.relative_to(Path.cwd()))
    except ValueError:
        return str(executable)


def banner(
    base_url: str,
    api_key: str,
    moto_endpoint: str,
    settings: Settings,
    served: list[ServedRoute],
) -> str:
    header = settings.api_key_header
    auth = shlex.quote(f"{header}: Bearer {api_key}")
    lines = [
        "Gift card API, local run (moto for DynamoDB and Secrets Manager)",
        f"  base URL       {base_url}",
        f"  API key        {api_key}    (header {header}: the key or 'Bearer <key>')",
        f"  OpenAPI        {base_url}/openapi.json",
        f"  docs           {base_url}/docs",
        f"  moto endpoint  {moto_endpoint}    (region {REGION}, table {settings.table_name})",
        "  routes         " + ", ".join(f"POST {s.route.path}" for s in served),
        "",
        "Import printed card stock (CSV with the header number,pin) into this run:",
        f"  {_python()} -m tools.import_stock cards.csv --endpoint-url {moto_endpoint} "
        f"--region {REGION} --table {shlex.quote(settings.table_name)} "
        f"--keys-secret {shlex.quote(settings.keys_secret_id)}",
        "",
        "Try it (example bodies from docs/examples/; balance and deactivate need a number the",
        "issue call returned, activate a number from imported stock):",
    ]
    for served_route in served:
        route = served_route.route
        path = route.path.replace("{instrument_id}", "INSTRUMENT_ID")
        example = ROOT / "docs" / "examples" / f"{route.function}.request.json"
        body = example.read_text(encoding="utf-8").strip() if example.is_file() else "{}"
        lines.append(
            f"  curl -sS -X POST {base_url}{path} -H {auth} "
            f"-H 'Content-Type: {JSON_TYPE}' -d {shlex.quote(body)}"
        )
    lines += ["", "Ctrl-C stops."]
    return "\n".join(lines)


def expiry_rate_seconds() -> float:
    """How often the local run releases expired reservations (the stack schedules the same
    handler with EventBridge every ``reservation_expiry_rate_minutes``)."""
    try:
        return max(1.0, float(os.environ.get("RESERVATION_EXPIRY_RATE_SECONDS") or 60))
    except ValueError:
        return 60.0


def run_expiry_job_until(stop: threading.Event, every: float) -> None:
    """Run the real ``reservation_expiry`` handler on a schedule until ``stop`` is set."""
    try:
        job = importlib.import_module("functions.reservation_expiry.handler").lambda_handler
    except ImportError:
        stop.wait()
        return
    while not stop.wait(every):
        try:
            job({"source": "local.schedule"}, LambdaContext("reservation_expiry", uuid.uuid4().hex))
        except Exception as exc:  # the job logs its own failures; keep serving
            _log_line("ERROR", "reservation expiry job failed", error=type(exc).__name__)


def main() -> int:
    from moto.server import ThreadedMotoServer

    from tools import moto_journal
    from tools.openapi import build_document

    try:
        port = int(os.environ.get("PORT") or 8000)
    except ValueError:
        print("PORT must be a number", file=sys.stderr)
        return 2
    api_key = os.environ.get("API_KEY") or secrets.token_urlsafe(24)
    if not 16 <= len(api_key) <= 512:
        print(
            "API_KEY must be 16 to 512 characters (shorter keys never open the API)",
            file=sys.stderr,
        )
        return 2

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():  # a second Ctrl-C: do not wait for requests in flight
            os._exit(128 + signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    # moto copies whole tables per transaction: a print run of real size needs the journal.
    try:
        moto_journal.install()
    except moto_journal.MotoShapeError as exc:
        print(f"cannot start the local run: {exc}", file=sys.stderr)
        return 2
    # moto's werkzeug server would log every DynamoDB call on stderr.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # botocore at DEBUG would print the secrets' values (also done when the service loads).
    quiet_sdk_loggers()
    moto = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    moto.start()
    serialize_moto(moto)
    server: LocalServer | None = None
    try:
        moto_host, moto_port = moto.get_host_and_port()
        moto_endpoint = f"http://{moto_host}:{moto_port}"
        prepare_environment(moto_endpoint)
        settings = get_settings()
        provision(settings, api_key)
        if stock := os.environ.get("STOCK_CSV"):
            status = import_stock_file(stock, settings)
            if status:
                return status

        served, warnings = load_routes()
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        try:
            server = LocalServer((HOST, port), Gateway(settings, served, load_authorizer()))
        except OSError as exc:
            print(f"cannot listen on {HOST}:{port}: {exc.strerror}", file=sys.stderr)
            return 2
        base_url = f"http://{HOST}:{server.server_address[1]}"
        document = build_document(
            [s.route for s in served], server_url=base_url, api_key_header=settings.api_key_header
        )
        server.gateway.pages = {
            "/openapi.json": (JSON_TYPE, json.dumps(document, indent=2).encode()),
            "/docs": ("text/html; charset=utf-8", docs_page(document).encode()),
        }
        print(banner(base_url, api_key, moto_endpoint, settings, served), flush=True)

        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
        thread.start()
        run_expiry_job_until(stop, expiry_rate_seconds())
        server.shutdown()
        thread.join()
        print("Stopped.", flush=True)
        return 0
    finally:
        if server is not None:
            server.server_close()
        moto.stop()


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is closed by now; skipping the interpreter's finalization (seconds of tearing
    # down moto's backends) makes Ctrl-C, and every test that starts a local run, quick.
    os._exit(status)
