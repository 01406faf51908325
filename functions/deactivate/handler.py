"""POST /gift_card/deactivate: deactivate a card and void its spendable balance."""

from giftcard import service
from giftcard.http import webhook
from giftcard.models import DeactivateRequest

lambda_handler = webhook("deactivate", DeactivateRequest, service.deactivate)
