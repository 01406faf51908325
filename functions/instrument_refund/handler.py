"""POST /financial_instruments/{instrument_id}/refund: return captured funds to the card."""

from giftcard import settlement
from giftcard.http import webhook
from giftcard.models import InstrumentRefundRequest

lambda_handler = webhook("instrument_refund", InstrumentRefundRequest, settlement.refund)
