"""What Lambda hands our handlers, for tests and the benchmark alike (``bench/`` imports these):
API Gateway REST proxy events, the authorizer's REQUEST event and the Lambda context object."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.support.aws import API_KEY_ID

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/POST/gift_card/balance"


def proxy_event(
    path: str,
    body: Any,
    *,
    raw: str | None = None,
    key_id: str = API_KEY_ID,
    method: str = "POST",
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The event of a request on the route ``path`` (``{name}`` filled from ``path_parameters``)
    that the authorizer let through with ``key_id``; the body is ``raw`` or ``body`` as JSON."""
    request_id = str(uuid.uuid4())
    concrete = path
    for name, value in (path_parameters or {}).items():
        concrete = concrete.replace("{" + name + "}", value)
    return {
        "resource": path,
        "path": concrete,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": {
            "requestId": request_id,
            "stage": "prod",
            "httpMethod": method,
            "resourcePath": path,
            "authorizer": {"key_id": key_id, "principalId": key_id},
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": raw if raw is not None else json.dumps(body),
        "isBase64Encoded": False,
    }


def authorizer_event(headers: dict[str, str] | None) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/gift_card/balance",
        "path": "/gift_card/balance",
        "httpMethod": "POST",
        "headers": headers,
        "requestContext": {"requestId": str(uuid.uuid4()), "stage": "prod"},
    }


class LambdaContext:
    """The bits of the Lambda context object Powertools and our handlers read."""

    memory_limit_in_mb = 512

    def __init__(self, function_name: str = "test") -> None:
        self.function_name = function_name
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        """Time left of a fresh invocation: well above the expiry job's reserve."""
        return 30_000
