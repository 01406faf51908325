"""POST /gift_card/activate: activate an inactive card and load its amount."""

from giftcard import service
from giftcard.http import webhook
from giftcard.models import ActivateRequest

lambda_handler = webhook("activate", ActivateRequest, service.activate)
