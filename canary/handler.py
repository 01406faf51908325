"""The synthetic canary (``infra/canary.py``, context ``canary``): the balance of the canary card
through the public API, every few minutes, exactly as NewStore would ask for it.

Standard library and boto3 only, without the service's layer: it must fail when the service is
broken, not share its failure modes. Any failure raises, so the run is a function error and the
``CanaryFailed`` alarm counts it. The card number, PIN and API key never reach a log line or an
exception message.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from typing import Any

Post = Callable[[str, bytes, dict[str, str], float], tuple[int, bytes]]


class CanaryFailed(Exception):
    """The API did not answer the canary card's balance as it should."""


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (https URL)
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def _read_secret(secret_id: str) -> Any:
    import boto3

    value = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    return json.loads(value)


def api_key(secret: Any) -> str:
    """The first active key of the API keys secret (``{"id", "key"}`` or ``{"keys": [...]}``)."""
    entries = secret.get("keys", [secret]) if isinstance(secret, dict) else []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("active", True) and entry.get("key"):
            return str(entry["key"])
    raise CanaryFailed("the API keys secret holds no active key")


def lambda_handler(
    event: Any,
    context: Any,
    *,
    post: Post | None = None,
    read_secret: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    read = read_secret or _read_secret
    card = read(os.environ["CANARY_CARD_SECRET_ID"])
    if not isinstance(card, dict) or not card.get("number"):
        raise CanaryFailed(
            "the canary card secret holds no card number yet (docs/deploy.md, 'Canary')"
        )
    identifier = {"number": str(card["number"])}
    if card.get("pin"):
        identifier["pin"] = str(card["pin"])
    headers = {
        "Content-Type": "application/json",
        os.environ.get("API_KEY_HEADER", "Authorization"): api_key(
            read(os.environ["API_KEYS_SECRET_ID"])
        ),
        "User-Agent": "giftcard-canary",
    }
    url = os.environ["API_URL"].rstrip("/") + "/gift_card/balance"
    status, raw = (post or _post)(
        url,
        json.dumps({"identifier": identifier}).encode(),
        headers,
        float(os.environ.get("TIMEOUT", "10")),
    )
    if status != 200:
        code = _field(raw, "error_code")
        raise CanaryFailed(f"balance answered {status} {code or ''}".strip())
    answer = json.loads(raw)
    if not isinstance(answer.get("currency"), str) or Decimal(str(answer.get("value"))) < 0:
        raise CanaryFailed("balance answered 200 without a balance")
    print(json.dumps({"message": "canary balance answered", "status": status}))
    return {"status": status}


def _field(raw: bytes, name: str) -> str | None:
    try:
        value = json.loads(raw).get(name)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
