"""POST /financial_instruments/{instrument_id}/capture: capture reserved funds."""

from giftcard import settlement
from giftcard.http import webhook
from giftcard.models import InstrumentCaptureRequest

lambda_handler = webhook("instrument_capture", InstrumentCaptureRequest, settlement.capture)
