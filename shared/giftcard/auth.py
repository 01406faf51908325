"""API-key authentication for API Gateway's REQUEST authorizer.

The key travels in one configured header (default ``Authorization``) as the raw key or
``Bearer <key>``. It is compared in constant time with every active key from the API keys
secret (two can be active during a rotation). The policy allows the whole stage (a route-scoped
policy breaks with authorizer caching) and carries the key's id for the ledger.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from giftcard import keys
from giftcard.settings import Settings

#: Longer header values are refused without comparing (no key is this long).
MAX_KEY_LENGTH = 512
#: Keys shorter than this in the secret are ignored: a weak key must not open the API.
MIN_KEY_LENGTH = 16


#: The principal of a refusal: no key matched, so there is no key id to name.
NO_KEY = "unauthenticated"


class Unauthenticated(Exception):
    """Missing or wrong key: the handler answers with ``deny`` (API Gateway: 401)."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    secret: bytes


def active_keys(secret_value: Any) -> list[ApiKey]:
    """Active keys from the secret: ``{"keys": [{"id", "key", "active"?}, ...]}`` or one
    ``{"id", "key"}`` object (what the stack generates)."""
    if isinstance(secret_value, dict) and "keys" in secret_value:
        entries = secret_value["keys"]
    elif isinstance(secret_value, dict):
        entries = [secret_value]
    else:
        entries = secret_value if isinstance(secret_value, list) else []
    found = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("active", True) is False:
            continue
        key = entry.get("key")
        if isinstance(key, str) and MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH:
            found.append(ApiKey(str(entry.get("id") or f"key-{index + 1}"), key.encode()))
    return found


def presented_key(headers: dict[str, Any] | None, header_name: str) -> bytes:
    """The key from the configured header (case-insensitive name), raw or ``Bearer <key>``."""
    wanted = header_name.lower()
    value = next(
        (v for k, v in (headers or {}).items() if isinstance(k, str) and k.lower() == wanted), None
    )
    if not isinstance(value, str):
        raise Unauthenticated()
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer" and rest:
        value = rest.strip()
    if not value or len(value) > MAX_KEY_LENGTH:
        raise Unauthenticated()
    return value.encode("utf-8", "surrogatepass")


def match(presented: bytes, candidates: list[ApiKey]) -> ApiKey:
    """Constant-time: every candidate is compared, whatever matched before."""
    matched: ApiKey | None = None
    for candidate in candidates:
        if hmac.compare_digest(presented, candidate.secret):
            matched = candidate
    if matched is None:
        raise Unauthenticated()
    return matched


def stage_arn(method_arn: str) -> str:
    """``arn:aws:execute-api:region:account:api/stage/METHOD/path`` -> ``.../api/stage/*/*``."""
    prefix, _, path = method_arn.partition(":execute-api:")
    parts = path.split("/")
    if not prefix or len(parts) < 2:
        return method_arn
    return f"{prefix}:execute-api:{parts[0]}/{parts[1]}/*/*"


def _policy(principal: str, effect: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": effect,
                    "Resource": stage_arn(str(event.get("methodArn", ""))),
                }
            ],
        },
    }


def deny(event: dict[str, Any]) -> dict[str, Any]:
    """The refusal of a missing or wrong key: a Deny on the whole stage.

    An answer, not a failure: API Gateway turns it into its ACCESS_DENIED response (the stack
    maps it to the same ``401 unauthorized``) and caches it for the presented header value like
    an Allow, so a retried bad key does not invoke the function again; and it is no function error,
    so bogus keys raise no ``AuthorizerErrors`` alarm. Raising ``Exception("Unauthorized")`` did
    both wrong.
    """
    return _policy(NO_KEY, "Deny", event)


def authorize(event: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The authorizer's answer for a REQUEST event, or ``Unauthenticated``.

    Reading the secret may raise ``RetryError`` (Secrets Manager unavailable): API Gateway then
    answers with its authorizer-failure response (503 ``retry_error``).
    """
    presented = presented_key(event.get("headers"), settings.api_key_header)
    secret = keys.secrets.get(settings.api_keys_secret_id, settings.secrets_cache_seconds)
    key = match(presented, active_keys(secret))
    return {**_policy(key.key_id, "Allow", event), "context": {"key_id": key.key_id}}
