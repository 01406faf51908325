"""API Gateway REST proxy events, as API Gateway sends them to our Lambdas."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.support.aws import API_KEY_ID

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/POST/gift_card/balance"


def proxy_event(
    path: str, body: Any, *, raw: str | None = None, key_id: str = API_KEY_ID, method: str = "POST"
) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": None,
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

    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
