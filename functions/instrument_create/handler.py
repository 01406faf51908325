"""POST /financial_instruments: reserve funds on a gift card (create a financial instrument)."""

from giftcard import redemption
from giftcard.http import webhook
from giftcard.models import InstrumentCreateRequest

lambda_handler = webhook("instrument_create", InstrumentCreateRequest, redemption.reserve)
