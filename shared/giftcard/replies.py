"""What an endpoint answers: an HTTP status and the exact JSON body text.

Domain functions return a ``Reply``; the HTTP edge (``giftcard.http``) only wraps it in a proxy
response, and ``giftcard.errors.reply_for`` turns every error into one.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from giftcard.jsonio import dumps


@dataclass(frozen=True)
class Reply:
    status: int
    body: str


def reply(status: int, model: BaseModel) -> Reply:
    """A reply with ``model`` as its JSON body (numbers written as the contract asks)."""
    return Reply(status, dumps(model.model_dump()))
