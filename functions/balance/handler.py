"""POST /gift_card/balance: the card's spendable balance."""

from giftcard import service
from giftcard.http import webhook
from giftcard.models import BalanceRequest

lambda_handler = webhook("balance", BalanceRequest, service.balance)
