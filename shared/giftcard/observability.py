"""One Logger and one Metrics for the whole service (Powertools).

Logs are JSON lines with keyword fields and the request id as correlation id. A card appears
only as its last 4 digits (``card_last4``); numbers, PINs, keys and e-mails are never logged.
"""

from __future__ import annotations

import logging
import os
import warnings

from aws_lambda_powertools import Logger, Metrics

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "giftcard")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "GiftCards")
#: The deployment (CloudFormation stack) the metrics belong to, a dimension of every metric: dev
#: and prod in one account then never feed each other's alarms. Unset locally.
STACK = os.environ.get("STACK_NAME", "")

# A request that emits no metric is normal here (most do not).
warnings.filterwarnings("ignore", message="No application metrics to publish")

#: The AWS SDK and its HTTP library: at DEBUG, botocore prints every request and response body,
#: and Secrets Manager's GetSecretValue answers are the key material and the API keys.
SDK_LOGGERS = ("boto3", "botocore", "s3transfer", "urllib3")


def quiet_sdk_loggers() -> None:
    """Pin the SDK's loggers to WARNING whatever the root logger's level (Lambda's
    ``AWS_LAMBDA_LOG_LEVEL=DEBUG``, a developer's ``basicConfig(level=DEBUG)``)."""
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


quiet_sdk_loggers()

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
if STACK:
    metrics.set_default_dimensions(stack=STACK)
