"""Calling the back office's domain functions the way its handlers will: a JSON body parsed like a
request (numbers as ``Decimal``), validated into the route's model, run with a request context
whose ``actor`` is an operator's IAM ARN, every error turned into its reply in one place.

Card numbers, PINs and e-mails in requests and answers are remembered in the per-test
``SECRETS`` registry, so the log scan of integration tests knows them (as ``invoke`` does).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from giftcard.errors import InvalidRequest, ServiceError, reply_for
from giftcard.http import Services, validation_message
from giftcard.jsonio import loads
from giftcard.operation import RequestContext
from giftcard.replies import Reply
from giftcard.routes import OPERATOR_ROUTES_BY_OPERATION
from tests.support.calls import SECRETS, Answer, Secrets, to_json

#: The operators of these tests (IAM ARNs, as API Gateway's IAM authorization reports callers).
ANA = "arn:aws:iam::123456789012:user/ana"
BEN = "arn:aws:sts::123456789012:assumed-role/GiftCardFinance/ben"

_requests = itertools.count(1)


@dataclass
class Operator:
    """One operator at the back office: ``call("freeze", {"number": ..., "reason": ...})``."""

    services: Services
    actor: str = ANA
    secrets: Secrets = field(default_factory=lambda: SECRETS)
    #: The request ids of the calls made, in order (entries record them).
    request_ids: list[str] = field(default_factory=list)
    #: Seconds a fixed test clock moves before each call, so entries keep the order of the calls
    #: (history is sorted by time; two entries of one instant have no order).
    tick: float = 0.001

    def context(self) -> RequestContext:
        advance = getattr(self.services.clock, "advance", None)
        if advance is not None and self.tick:
            advance(self.tick)
        request_id = f"op-{next(_requests)}"
        self.request_ids.append(request_id)
        context = self.services.context(request_id, "")
        context.actor = self.actor
        return context

    def call(self, name: str, body: Any, *, context: RequestContext | None = None) -> Answer:
        # The route registry's entry for backoffice.<name>: its request model and function.
        route = OPERATOR_ROUTES_BY_OPERATION[name]
        self.secrets.harvest(body)
        try:
            request = route.request.model_validate(loads(to_json(body)))
        except ValidationError as exc:
            answer: Reply = reply_for(InvalidRequest(validation_message(exc)))
        else:
            try:
                answer = route.resolve()(request, context or self.context())
            except ServiceError as error:
                answer = reply_for(error)
        result = Answer(answer.status, answer.body, {})
        if answer.status == 200:
            self.secrets.harvest(result.json)
        else:
            self.secrets.error_bodies.append(answer.body)
        return result

    def ok(self, name: str, body: Any) -> Any:
        """The 200 answer's JSON (numbers as ``Decimal``); fails the test on any other status."""
        answer = self.call(name, body)
        assert answer.status == 200, answer.body
        return answer.json
