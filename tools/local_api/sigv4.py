"""SigV4 for the local operator API: verify a request the way API Gateway's ``AWS_IAM`` does.

The deployed operator API lets IAM check every signature; the local run (``make run``) has no
IAM, so it verifies them here against local operator credentials (``ADMIN_ACCESS_KEY_ID`` /
``ADMIN_SECRET_ACCESS_KEY``). The signature is recomputed with botocore's own signer
(``SigV4Auth`` on an ``AWSRequest`` built from the method, URL, the headers the caller signed and
the body), so what verifies here is exactly what botocore signs, and a mismatch anywhere (secret,
path, query, a signed header, the body) is refused. Refusals are ``403 forbidden`` with the
envelope, like the gateway's mapped answer; their messages follow AWS's and never quote a secret,
a signature or the body.

    verifier = SigV4Verifier([credential])
    arn = verifier.caller("POST", "/admin/cards/lookup", headers, body)  # or SignatureRejected
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shlex
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from giftcard import errors

SERVICE = "execute-api"
REGION = "us-east-1"
ALGORITHM = "AWS4-HMAC-SHA256"
#: API Gateway refuses a signature whose X-Amz-Date is further than this from its own clock.
MAX_SKEW = timedelta(minutes=5)
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
#: The caller identity of the local operator (the local run's account is all zeros).
LOCAL_OPERATOR_ARN = "arn:aws:iam::000000000000:user/local-operator"

ENV_ACCESS_KEY_ID = "ADMIN_ACCESS_KEY_ID"
ENV_SECRET_ACCESS_KEY = "ADMIN_SECRET_ACCESS_KEY"

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+"
    r"Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# AWS's own wording, so an operator searching the message finds the right help.
MISSING = "Missing Authentication Token"
MALFORMED = "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'."
UNKNOWN_KEY = "The security token included in the request is invalid."
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)


class SignatureRejected(errors.Forbidden):
    """A request the operator API refuses: ``403 forbidden`` (``errors.reply_for`` answers it)."""


@dataclass(frozen=True)
class OperatorCredential:
    """One operator's access key pair and the identity (IAM ARN) a verified request has."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    arn: str = LOCAL_OPERATOR_ARN


HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]]


def verify_request(
    method: str,
    target: str,
    headers: HeaderInput,
    body: bytes | None,
    credentials: Mapping[str, OperatorCredential],
    *,
    now: datetime,
    region: str = REGION,
    service: str = SERVICE,
) -> OperatorCredential:
    """The credential whose secret signed this request; raises ``SignatureRejected`` otherwise.

    ``target`` is the request target as the server received it (path and query string, e.g.
    ``/admin/reports/liability?date=2026-11-30``) or a whole URL; ``credentials`` maps access key
    ids to credentials; ``now`` is the server's clock (aware, UTC).
    """
    received = HTTPHeaders()
    for name, value in headers.items() if isinstance(headers, Mapping) else headers:
        received[name.lower()] = value
    authorization = received.get("authorization")
    if not authorization:
        raise SignatureRejected(MISSING)
    found = _AUTHORIZATION.match(authorization.strip())
    if found is None:
        if not authorization.strip().startswith(ALGORITHM):
            raise SignatureRejected(MISSING)
        raise SignatureRejected(MALFORMED)
    key_id, _, scope = found["credential"].partition("/")
    parts = scope.split("/")
    if len(parts) != 4 or parts[3] != "aws4_request":
        raise SignatureRejected(MALFORMED)
    scope_date, scope_region, scope_service, _ = parts
    signed = found["signed"].split(";")
    if "host" not in signed or any(name not in received for name in signed):
        raise SignatureRejected("Signed headers must include host and be present in the request.")

    timestamp = received.get("x-amz-date") or ""
    try:
        signed_at = datetime.strptime(timestamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureRejected(
            "Authorization header requires existence of a valid X-Amz-Date."
        ) from None
    if abs(now - signed_at) > MAX_SKEW:
        raise SignatureRejected(
            f"Signature expired: {timestamp} is now more than 5 minutes from the server's time "
            f"({now.strftime(TIMESTAMP_FORMAT)})."
        )
    if scope_date != timestamp[:8]:
        raise SignatureRejected("Credential should be scoped to the date of X-Amz-Date.")
    if scope_service != service:
        raise SignatureRejected(f"Credential should be scoped to correct service: '{service}'.")
    if scope_region != region:
        raise SignatureRejected(f"Credential should be scoped to a valid region: '{region}'.")
    credential = credentials.get(key_id)
    if credential is None:
        raise SignatureRejected(UNKNOWN_KEY)

    payload = body or b""
    declared = received.get("x-amz-content-sha256")
    if declared is not None and not hmac.compare_digest(
        declared, hashlib.sha256(payload).hexdigest()
    ):
        # botocore takes a declared payload hash as it is: the body itself must match it.
        raise SignatureRejected(MISMATCH)

    split = urlsplit(target)
    # The path as received (already URI-encoded once): botocore encodes it again, which is the
    # double encoding AWS expects of every service but S3.
    url = f"http://{received['host']}{split.path or '/'}"
    if split.query:
        url += f"?{split.query}"
    request = AWSRequest(method=method.upper(), url=url, data=payload)
    for name in signed:
        for value in received.get_all(name) or []:
            request.headers[name] = value
    request.context["timestamp"] = timestamp

    signer = _SignedHeadersAuth(
        Credentials(credential.access_key_id, credential.secret_access_key),
        service,
        region,
        signed,
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, found["signature"]):
        raise SignatureRejected(MISMATCH)
    return credential


class _SignedHeadersAuth(SigV4Auth):
    """botocore's signer canonicalizing exactly the headers the caller signed (when signing,
    botocore picks every header of its request; a server receives more than were signed)."""

    def __init__(self, credentials: Credentials, service: str, region: str, signed: list[str]):
        super().__init__(credentials, service, region)
        self.signed = signed

    def headers_to_sign(self, request: Any) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self.signed:
            for value in request.headers.get_all(name) or []:
                chosen[name] = value
        return chosen


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SigV4Verifier:
    """The local operator API's ``AWS_IAM`` check: ``caller`` answers the caller's ARN."""

    def __init__(
        self,
        credentials: Iterable[OperatorCredential],
        *,
        region: str = REGION,
        service: str = SERVICE,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.credentials = {credential.access_key_id: credential for credential in credentials}
        self.region = region
        self.service = service
        self.clock = clock

    def verify(
        self, method: str, target: str, headers: HeaderInput, body: bytes | None
    ) -> OperatorCredential:
        return verify_request(
            method,
            target,
            headers,
            body,
            self.credentials,
            now=self.clock(),
            region=self.region,
            service=self.service,
        )

    def caller(self, method: str, target: str, headers: HeaderInput, body: bytes | None) -> str:
        """The caller's IAM ARN; raises ``SignatureRejected`` (a ``403 forbidden``)."""
        return self.verify(method, target, headers, body).arn


def request_identity(
    credential: OperatorCredential, source_ip: str, user_agent: str | None
) -> dict[str, Any]:
    """``requestContext.identity`` as API Gateway fills it for an ``AWS_IAM`` method: the
    handlers read the caller's ARN from ``userArn``."""
    account = credential.arn.split(":")[4] if credential.arn.count(":") >= 5 else ""
    return {
        "accountId": account,
        "accessKey": credential.access_key_id,
        "caller": credential.access_key_id,
        "user": credential.access_key_id,
        "userArn": credential.arn,
        "sourceIp": source_ip,
        "userAgent": user_agent,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "principalOrgId": None,
    }


# Local operator credentials ----------------------------------------------------------------------

_KEY_ID_ALPHABET = string.ascii_uppercase + "234567"


def generate_credential(arn: str = LOCAL_OPERATOR_ARN) -> OperatorCredential:
    """A fresh pair shaped like AWS's (20-character key id, 40-character secret), from a CSPRNG."""
    key_id = "AKIA" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
    return OperatorCredential(key_id, secrets.token_urlsafe(30), arn)


def local_operator_credential(
    environ: Mapping[str, str] | None = None, arn: str = LOCAL_OPERATOR_ARN
) -> tuple[OperatorCredential, bool]:
    """The local run's operator credential from ``ADMIN_ACCESS_KEY_ID`` /
    ``ADMIN_SECRET_ACCESS_KEY``, or a generated one when both are unset: (credential,
    generated). Raises ``ValueError`` when only one of them is set."""
    env = os.environ if environ is None else environ
    key_id = env.get(ENV_ACCESS_KEY_ID, "").strip()
    secret = env.get(ENV_SECRET_ACCESS_KEY, "").strip()
    if not key_id and not secret:
        return generate_credential(arn), True
    if not key_id or not secret:
        raise ValueError(
            f"set both {ENV_ACCESS_KEY_ID} and {ENV_SECRET_ACCESS_KEY}, or neither (then a pair "
            "is generated)"
        )
    return OperatorCredential(key_id, secret, arn), False


def cli_invocation(
    credential: OperatorCredential,
    base_url: str,
    region: str = REGION,
    command: str = "giftcard",
) -> str:
    """The exact ``giftcard`` command line that reaches the local operator API (for the banner:
    the local secret is printed on purpose, it opens nothing but this run). ``command`` may be
    ``.venv/bin/giftcard`` when the venv is not on the PATH."""
    region_option = "" if region == REGION else f" --region {shlex.quote(region)}"
    return (
        f"AWS_ACCESS_KEY_ID={shlex.quote(credential.access_key_id)} "
        f"AWS_SECRET_ACCESS_KEY={shlex.quote(credential.secret_access_key)} "
        f"{command} --url {shlex.quote(base_url)}{region_option} card show -"
    )
