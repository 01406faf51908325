"""POST /financial_instruments/{instrument_id}/revoke: release reserved funds to the card."""

from giftcard import settlement
from giftcard.http import webhook
from giftcard.models import InstrumentRevokeRequest

lambda_handler = webhook("instrument_revoke", InstrumentRevokeRequest, settlement.revoke)
