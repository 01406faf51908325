"""POST /gift_card/issue: a new card with a generated number and PIN."""

from giftcard import service
from giftcard.http import webhook
from giftcard.models import IssueRequest

lambda_handler = webhook("issue", IssueRequest, service.issue)
