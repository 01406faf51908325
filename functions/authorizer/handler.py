"""API Gateway REQUEST authorizer: the API key in the configured header."""

from typing import Any

from giftcard import cold_start_done
from giftcard.auth import Unauthenticated, authorize, deny
from giftcard.observability import logger
from giftcard.settings import get_settings


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return authorize(event, get_settings())
    except Unauthenticated:
        logger.info("request refused: missing or unknown API key")
        # A Deny (401 through ACCESS_DENIED, cached), never an exception: see giftcard.auth.deny.
        return deny(event)
    finally:
        cold_start_done()
