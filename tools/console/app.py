"""The console's server side: its pages, and every call the page makes forwarded to the operator
API, signed with the operator's own AWS credentials (SigV4, service ``execute-api``).

    app = ConsoleApp("https://abc.execute-api.eu-west-1.amazonaws.com/prod", credentials,
                     "eu-west-1")
    status, headers, body = app.handle("GET", "/console/", headers, b"")

Under its mount (``/console`` unless told):
  ``/``, ``/card``, ``/liability``, ``/dormancy``, ``/events``   the page (one shell, the script
                                                                 draws the page the path names)
  ``/static/<file>``                                             its CSS and scripts
  ``/api/session``                                               which policy the credentials hold
  ``/api/admin/...``                                             forwarded, signed (operations.py)

The API calls accept only the page's own requests: a loopback ``Host`` (no DNS rebinding), the
console's request header (a cross-site form or image cannot set it, and a script needs a CORS
preflight this server never grants) and, when the browser sends one, a same-origin ``Origin``.
Nothing the page sends is logged or kept; every answer says ``no-store``.
"""

from __future__ import annotations

import html
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from tools.console.operations import BY_ROUTE, FINANCE, OPERATIONS, SUPPORT

SERVICE = "execute-api"
STATIC = Path(__file__).resolve().parent / "static"
PAGES = ("", "/", "/card", "/liability", "/dormancy", "/events")
#: The header the page sends with every API call (see the module docstring).
CONSOLE_HEADER = "X-Giftcard-Console"
#: A card id no card has: the session probe's lookup (any answer but 403 means the signature
#: was accepted).
PROBE_CARD_ID = "c_console_session_probe"
TIMEOUT_SECONDS = 35.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
JSON_TYPE = "application/json"
#: Every asset ships with the page; nothing from elsewhere may load or be framed.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

Headers = Mapping[str, str] | Iterable[tuple[str, str]]
Response = tuple[int, dict[str, str], bytes]


def _header_map(headers: Headers) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return {str(name).lower(): str(value) for name, value in pairs}


def _error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"error_code": code, "message": message}).encode()
    return status, {"Content-Type": JSON_TYPE, **SECURITY_HEADERS}, body


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.lower() in LOOPBACK_HOSTS


class ConsoleApp:
    """The console under ``mount``: ``handle`` answers one request; ``credentials`` is a botocore
    ``Credentials`` (or refreshable credentials), None when the chain found none (every page then
    shows the error page saying so)."""

    def __init__(
        self,
        api_base_url: str,
        credentials: Any,
        region: str,
        *,
        mount: str = "/console",
        label: str = "",
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.api_base_url = api_base_url.rstrip("/")
        if urlsplit(self.api_base_url).scheme not in ("http", "https"):
            raise ValueError(f"the operator API URL must be http(s): {api_base_url}")
        self.credentials = credentials
        self.region = region
        self.mount = "/" + mount.strip("/")
        #: Shown in the page's header next to the policy (e.g. "local support operator").
        self.label = label
        self.timeout = timeout
        self.assets = {path.name: path for path in STATIC.iterdir() if path.suffix in CONTENT_TYPES}
        host = urlsplit(self.api_base_url).hostname or ""
        # The operator API on loopback (the local run) is never reached through a proxy.
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(host) else []
        self._opener = urllib.request.build_opener(*handlers)

    # requests ------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Headers, body: bytes | None) -> Response:
        """One request whose path is under the mount: (status, headers, body)."""
        split = urlsplit(target)
        path = split.path
        if path != self.mount and not path.startswith(self.mount + "/"):
            return _error(404, "not_found", "No such page.")
        inner = path[len(self.mount) :]
        received = _header_map(headers)
        if not _is_loopback(received.get("host", "")):
            # A page reached under another host name is a DNS rebinding attempt, never a user.
            return _error(403, "forbidden", "The console answers on 127.0.0.1 only.")
        if inner.startswith("/api/"):
            refused = self._refuse_foreign(received)
            if refused is not None:
                return refused
            if inner == "/api/session" and method == "GET":
                return self.session()
            return self.forward(method, inner[len("/api") :], split.query, body or b"")
        if method not in ("GET", "HEAD"):
            return _error(405, "method_not_allowed", "The console's pages are read with GET.")
        if inner in PAGES:
            return 200, {"Content-Type": CONTENT_TYPES[".html"], **SECURITY_HEADERS}, self.shell()
        if inner.startswith("/static/"):
            asset = self.assets.get(inner[len("/static/") :])
            if asset is not None:
                content_type = CONTENT_TYPES[asset.suffix]
                return 200, {"Content-Type": content_type, **SECURITY_HEADERS}, asset.read_bytes()
        return _error(404, "not_found", "No such page.")

    def _refuse_foreign(self, received: Mapping[str, str]) -> Response | None:
        if received.get(CONSOLE_HEADER.lower()) != "1":
            return _error(403, "forbidden", "Only the console's own pages may call its API.")
        origin = received.get("origin")
        if origin is not None and origin != f"http://{received.get('host', '')}":
            return _error(403, "forbidden", "Only the console's own pages may call its API.")
        site = received.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return _error(403, "forbidden", "Only the console's own pages may call its API.")
        return None

    def shell(self) -> bytes:
        """The page: one document for every page path; the script reads the path."""
        template = (STATIC / "index.html").read_text(encoding="utf-8")
        operations = [
            {"method": op.method, "path": op.path, "policy": op.policy, "label": op.label}
            for op in OPERATIONS
        ]
        return (
            template.replace("{{base}}", html.escape(self.mount, quote=True))
            .replace("{{operations}}", html.escape(json.dumps(operations), quote=True))
            .encode()
        )

    # the operator API ----------------------------------------------------------------------------

    def forward(self, method: str, path: str, query: str, body: bytes) -> Response:
        """The page's call, signed and sent to the operator API; its answer as it is."""
        if (method, path) not in BY_ROUTE:
            return _error(404, "not_found", "The console makes no such call.")
        return self.call(method, path, query, body if method == "POST" else b"")

    def call(self, method: str, path: str, query: str = "", body: bytes = b"") -> Response:
        if self.credentials is None:
            return _error(
                401,
                "console_no_credentials",
                "No AWS credentials were found for the console: sign in (aws sso login), pick "
                "a profile (--profile or AWS_PROFILE) or set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, then start the console again.",
            )
        url = self.api_base_url + path + (f"?{query}" if query else "")
        request = AWSRequest(method=method, url=url, data=body)
        if method == "POST":
            request.headers["Content-Type"] = JSON_TYPE
        try:
            # Refreshable credentials (SSO, roles) are frozen once so a refresh cannot split a
            # signature between two key pairs.
            frozen = self.credentials.get_frozen_credentials()
            SigV4Auth(frozen, SERVICE, self.region).add_auth(request)
        except Exception as exc:  # e.g. expired SSO credentials that cannot refresh
            return _error(
                401,
                "console_no_credentials",
                f"The console's AWS credentials cannot sign ({type(exc).__name__}): sign in "
                "again and restart the console.",
            )
        prepared = request.prepare()
        # The scheme is http(s), checked in __init__.
        outgoing = urllib.request.Request(  # noqa: S310
            url,
            data=body if method == "POST" else None,
            method=method,
            headers=dict(prepared.headers.items()),
        )
        try:
            with self._opener.open(outgoing, timeout=self.timeout) as answer:
                return self._relay(answer.status, answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return self._relay(error.code, error.read())
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return _error(
                502,
                "console_unreachable",
                f"The console could not reach the operator API at {self.api_base_url} ({reason}).",
            )

    def _relay(self, status: int, raw: bytes) -> Response:
        try:
            json.loads(raw)
        except ValueError:
            # Not the API's envelope (a proxy's page, an HTML error): say so in the envelope.
            return _error(
                502 if status < 400 else status,
                "console_bad_answer",
                f"The operator API answered {status} with something that is not JSON.",
            )
        return status, {"Content-Type": JSON_TYPE, **SECURITY_HEADERS}, raw

    def session(self) -> Response:
        """Which policy the credentials hold, probed (a role cannot read its own policies):
        a support read must be allowed, a finance-only read (the latest audit) tells finance."""
        status, headers, body = self.call(
            "POST", "/admin/cards/lookup", body=json.dumps({"card_id": PROBE_CARD_ID}).encode()
        )
        if status in (401, 403) or status >= 500:
            if status == 403:
                message = _message(body)
                return _error(
                    403,
                    "console_credentials_refused",
                    "The operator API refused the console's AWS credentials: they are wrong, "
                    "expired, or hold neither the support nor the finance policy "
                    f"(the API said: {message})",
                )
            return status, headers, body
        if status == 404 and _code(body) == "not_found":
            return _error(
                502,
                "console_not_operator_api",
                f"{self.api_base_url} does not serve the operator API (it has no "
                "/admin/cards/lookup): check the URL or stack the console was started with.",
            )
        status, _, body = self.call("GET", "/admin/audit/latest")
        # Finance only when the finance read is answered (an audit, or none yet); anything else
        # (403, or an API without it) gets the support look: hiding too much is the safe side.
        finance = status == 200 or _code(body) == "audit_not_found"
        policy = FINANCE if finance else SUPPORT
        answer = {
            "policy": policy,
            "api_url": self.api_base_url,
            "region": self.region,
            "label": self.label,
        }
        return 200, {"Content-Type": JSON_TYPE, **SECURITY_HEADERS}, json.dumps(answer).encode()


def _code(body: bytes) -> str:
    try:
        return str(json.loads(body).get("error_code") or "")
    except (ValueError, AttributeError):
        return ""


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message") or "forbidden")
    except (ValueError, AttributeError):
        return "forbidden"
