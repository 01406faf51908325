"""The operator API over HTTPS, signed with the operator's own AWS credentials.

Every request is signed with botocore's SigV4 signer for ``execute-api`` using the standard
credential chain (``--profile``, environment, SSO, instance roles): the command stores no secret.
The API is found with ``--url`` or with ``--stack`` (the stack's ``OperatorApiUrl`` output).
Card numbers travel only in request bodies; reports take ``?date=``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from giftcard import jsonio
from tools.cli.failures import EXIT_INPUT, EXIT_UNAVAILABLE, ApiError, CliError

SERVICE = "execute-api"
#: The local run's region, and the default where nothing else names one.
DEFAULT_REGION = "us-east-1"
#: Stack outputs the command reads.
OUTPUT_API_URL = "OperatorApiUrl"
OUTPUT_TABLE = "TableName"
OUTPUT_KEYS_SECRET = "KeyMaterialSecretArn"
#: API Gateway answers within 29 s; a little more for the network.
TIMEOUT_SECONDS = 35
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def botocore_session(profile: str | None) -> Any:
    """A botocore session on the standard chain, with ``--profile`` when given."""
    import botocore.session
    from botocore.exceptions import ProfileNotFound

    session = botocore.session.get_session()
    if profile:
        try:
            session.set_config_variable("profile", profile)
            session.get_scoped_config()
        except ProfileNotFound:
            raise CliError(f"no AWS profile named {profile}") from None
    return session


def signing_region(url: str, explicit: str | None, session_region: str | None) -> str:
    """``--region``, else the region in an ``execute-api`` host name, else us-east-1 for the
    local run, else the profile's region, else us-east-1."""
    if explicit:
        return explicit
    host = (urlsplit(url).hostname or "").lower()
    found = _EXECUTE_API_HOST.match(host)
    if found:
        return found.group(1)
    if host in _LOOPBACK:
        return DEFAULT_REGION
    return session_region or DEFAULT_REGION


def aws_reason(exc: BaseException) -> str:
    """A short, secret-free description of an AWS failure."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    detail = str(cause)[:300]
    return f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__


def stack_outputs(cloudformation: Any, stack_name: str, required: list[str]) -> dict[str, str]:
    """The stack's outputs; ``CliError`` when it cannot be read or lacks one of ``required``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise CliError(
            f"cannot read stack {stack_name} ({aws_reason(exc)})", EXIT_UNAVAILABLE
        ) from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [name for name in required if name not in outputs]
    if missing:
        raise CliError(
            f"stack {stack_name} has no output {', '.join(missing)} (is it this service's stack?)",
            EXIT_INPUT,
        )
    return outputs


def api_base(url: str) -> str:
    """The API's root without a trailing ``/`` or ``/admin`` (paths all start with /admin/)."""
    split = urlsplit(url.strip())
    if split.scheme not in ("http", "https") or not split.netloc:
        raise CliError("--url must be an http(s) URL such as http://127.0.0.1:8000")
    base = url.strip().rstrip("/")
    return base.removesuffix("/admin")


@dataclass
class OperatorClient:
    """Signed JSON calls to the operator API; answers are parsed with exact decimals."""

    base_url: str
    credentials: Any  # botocore credentials (refreshable ones are frozen per request)
    region: str
    http: Any = None

    def __post_init__(self) -> None:
        self.base_url = api_base(self.base_url)
        if self.http is None:
            from botocore.httpsession import URLLib3Session
            from botocore.utils import get_environ_proxies

            self.http = URLLib3Session(
                proxies=get_environ_proxies(self.base_url), timeout=TIMEOUT_SECONDS
            )

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.call("POST", path, body=body)

    def get(self, path: str, query: Mapping[str, str] | None = None) -> Any:
        return self.call("GET", path, query=query)

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Any:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import BotoCoreError

        url = self.base_url + path
        if query:
            url += "?" + urlencode(dict(query))
        headers = {"Accept": "application/json"}
        data = b""
        if body is not None:
            data = jsonio.dumps(dict(body)).encode()
            headers["Content-Type"] = "application/json"
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(self.credentials.get_frozen_credentials(), SERVICE, self.region).add_auth(request)
        try:
            response = self.http.send(request.prepare())
        except BotoCoreError as exc:
            # The URL is not secret; the body (which may hold a number) is never quoted.
            raise CliError(
                f"cannot reach the operator API at {self.base_url} ({type(exc).__name__})",
                EXIT_UNAVAILABLE,
            ) from exc
        return answer(response.status_code, response.content)


def answer(status: int, content: bytes) -> Any:
    """A 2xx body, or ``ApiError`` with the envelope's code and message."""
    try:
        parsed = jsonio.loads(content) if content else None
    except jsonio.JSONError:
        parsed = None
    if 200 <= status < 300:
        if parsed is None:
            raise CliError(
                f"the operator API answered {status} without a JSON body", EXIT_UNAVAILABLE
            )
        return parsed
    if isinstance(parsed, dict) and isinstance(parsed.get("error_code"), str):
        raise ApiError(status, parsed["error_code"], str(parsed.get("message") or ""))
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        # API Gateway's own answers before the mapping ({"message": ...}).
        raise ApiError(status, "forbidden" if status == 403 else "http_error", parsed["message"])
    raise ApiError(status, "http_error", f"the operator API answered HTTP {status}")


def operator_client(
    url: str | None, stack: str | None, profile: str | None, region: str | None
) -> OperatorClient:
    """The client for ``--url`` or ``--stack``, signing with the standard credential chain."""
    from botocore.exceptions import BotoCoreError

    session = botocore_session(profile)
    if url is None:
        if stack is None:
            raise CliError("say where the operator API is: --url URL or --stack NAME")
        cloudformation = session.create_client(
            "cloudformation",
            region_name=region or session.get_config_variable("region") or DEFAULT_REGION,
        )
        url = stack_outputs(cloudformation, stack, [OUTPUT_API_URL])[OUTPUT_API_URL]
    try:
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        raise CliError(f"cannot load AWS credentials ({type(exc).__name__})") from exc
    if credentials is None:
        raise CliError(
            "no AWS credentials: use --profile, `aws sso login`, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (the local run prints the pair to use)"
        )
    return OperatorClient(
        url, credentials, signing_region(url, region, session.get_config_variable("region"))
    )
