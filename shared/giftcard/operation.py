"""What every operation shares: its request context, bounded retries, idempotency records,
ledger entries and replies.

Each domain function (``giftcard.service``, ``.redemption``, ``.settlement``) takes a validated
request model and a ``RequestContext`` (settings, repository, keys, clock, request identity) and
returns a ``Reply``. No API Gateway event and no boto3 in here: storage is the repository's
interface.

Idempotency: every mutation commits its response together with its effect (one transaction).
A retry with the same key meets the stored record and replays it byte for byte, whatever its
parameters. Business errors decided against stored state are stored too (the transaction
asserts the card is still as read), so a retry cannot get a different answer.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from pydantic import BaseModel

from giftcard.cards import (
    Card,
    luhn_valid,
    normalize_number,
)
from giftcard.clock import Clock, Instant
from giftcard.errors import (
    BusinessError,
    RetryError,
    reply_for,
)
from giftcard.items import record_pk
from giftcard.keys import CLIENT, INTERNAL, KeyMaterial, idempotency_key_hash
from giftcard.metric_names import IDEMPOTENCY_KEY_REUSED, REPLAYS, RETRIES_EXHAUSTED
from giftcard.observability import (
    logger,
    metrics,
)
from giftcard.replies import Reply
from giftcard.repository import Repository
from giftcard.settings import Settings
from giftcard.writes import (
    CardCheck,
    CardConflict,
    CardUpdate,
    InstrumentConflict,
    LedgerEntry,
    RecordExists,
    StorageBusy,
    StoredRecord,
    Write,
)

T = TypeVar("T")

_BACKOFF_BASE_SECONDS = 0.005
_BACKOFF_CAP_SECONDS = 0.15


@dataclass
class RequestContext:
    """Everything one request needs, built by the handler (tests build their own)."""

    settings: Settings
    repository: Repository
    keys: KeyMaterial
    clock: Clock = field(default_factory=Clock)
    request_id: str = ""
    key_id: str = ""
    #: Who asked: NewStore's API key id for webhooks, the caller's IAM ARN for operator routes.
    actor: str = ""
    sleep: Callable[[float], None] = time.sleep
    #: The PIN comparisons this request made (card lookup -> right?): a storage retry of the
    #: same request must not charge the same guess again.
    pin_checks: dict[str, bool] = field(default_factory=dict)
    #: Cards whose right PIN this request charged and its write has not reset yet.
    pin_unsettled: set[str] = field(default_factory=set)
    #: Marks this request's PIN charges on the card (a lost answer is found, not re-charged).
    pin_token: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def now(self) -> Instant:
        return self.clock.now()


class DecideAgain(Exception):
    """State moved between read and write: decide again."""


def with_retries(context: RequestContext, attempt: Callable[[], T]) -> T:
    """Run ``attempt`` until it decides, at most ``storage_max_attempts`` times.

    Throttling, transaction conflicts and lost races back off with full jitter; each attempt
    re-reads what it depends on. Nothing is half-done: an attempt commits all or nothing. A
    right PIN charged on the way is reset when the request ends, unless its write did it.
    """
    try:
        return _attempts(context, attempt)
    finally:
        _settle_right_pins(context)


def _attempts(context: RequestContext, attempt: Callable[[], T]) -> T:
    attempts = context.settings.storage_max_attempts
    for index in range(attempts):
        try:
            return attempt()
        except (StorageBusy, CardConflict, InstrumentConflict, DecideAgain) as exc:
            if index + 1 == attempts:
                logger.warning(
                    "storage retries exhausted", reason=type(exc).__name__, attempts=attempts
                )
                metrics.add_metric(name=RETRIES_EXHAUSTED, unit="Count", value=1)
                break
            context.sleep(
                random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**index))
            )
    raise RetryError()


def _settle_right_pins(context: RequestContext) -> None:
    """Reset the guess a right PIN was charged when nothing else did: a balance, a refusal after
    the PIN, a replay, or a request that gives up (503: no effect; best effort, storage is
    struggling, and a retry with the key finds its charge)."""
    while context.pin_unsettled:
        lookup = context.pin_unsettled.pop()
        with contextlib.suppress(StorageBusy):
            context.repository.settle_pin(lookup)


def card_lookup_for(raw_number: str, keys: KeyMaterial) -> tuple[str, str] | None:
    """(normalized number, lookup) for a plausible number; None for one that can't be a card."""
    number = normalize_number(raw_number)
    if number is None or not luhn_valid(number):
        return None
    return number, keys.card_lookup(number)


class Idempotency:
    """The idempotency record of one mutating request.

    Without a client key, the record is keyed by the request id: our own retry after a lost
    response (timeout after commit) then replays instead of executing twice. Such keys (and the
    expiry job's ``internal`` keys) hash in their own namespace (``keys.idempotency_key_hash``):
    a client sending a request id, which it sees in headers, logs and ledger entries, as its key
    executes its request instead of replaying ours (an issued card's number and PIN).
    """

    def __init__(
        self,
        context: RequestContext,
        endpoint: str,
        key: str | None,
        request: BaseModel,
        *,
        internal: str | None = None,
    ) -> None:
        self.context = context
        self.endpoint = endpoint
        self.keyed = key is not None
        if key is not None:
            key_hash = idempotency_key_hash(endpoint, key, origin=CLIENT)
        else:
            own = internal if internal is not None else context.request_id or str(id(request))
            key_hash = idempotency_key_hash(endpoint, own, origin=INTERNAL)
        self.pk = record_pk(endpoint, key_hash)
        canonical = json.dumps(
            request.model_dump(mode="json", exclude={"idempotence_key", "idempotency_key"}),
            sort_keys=True,
            separators=(",", ":"),
        )
        self.params_hash = context.keys.params_hash(f"{endpoint}\n{canonical}")

    def pin_token(self) -> str:
        """Marks this request's PIN charge on the card. Copies of one keyed request (same key,
        same parameters, PIN included) share it, so a burst of retries is charged one guess;
        another PIN is other parameters, so it is charged on its own."""
        if not self.keyed:
            return self.context.pin_token
        return self.context.keys.params_hash(f"pin-charge\n{self.pk}\n{self.params_hash}")[:16]

    def record(self, answer: Reply) -> StoredRecord:
        now = self.context.now().seconds
        retention = self.context.settings.idempotency_retention_days * 86400
        return StoredRecord(
            pk=self.pk,
            status=answer.status,
            body_sealed=self.context.keys.seal(answer.body, self.pk),
            params_hash=self.params_hash,
            created_at=now,
            expires_at=now + retention,
        )

    def replay(self, stored: StoredRecord) -> Reply:
        if stored.params_hash != self.params_hash:
            logger.warning(
                "idempotency key reused with different parameters; replaying the first response",
                endpoint=self.endpoint,
                stored_status=stored.status,
            )
            # A caller bug that could hide a lost operation: the stack alarms on this metric.
            metrics.add_metric(name=IDEMPOTENCY_KEY_REUSED, unit="Count", value=1)
        metrics.add_metric(name=REPLAYS, unit="Count", value=1)
        return Reply(stored.status, self.context.keys.unseal(stored.body_sealed, self.pk))

    def entry(self, card: Card, kind: str, **fields: Any) -> LedgerEntry:
        """A ledger entry of this request (see ``entry``), owned by this record."""
        return entry(self.context, card, kind, record=self.pk, **fields)

    def live(self, stored: StoredRecord | None) -> StoredRecord | None:
        return stored if stored is not None and stored.live(self.context.now().seconds) else None

    def commit(self, answer: Reply, write: Write) -> Reply:
        """Commit ``write`` with this record holding ``answer``; replay if the key was used."""
        try:
            self.context.repository.commit(
                replace(write, record=self.record(answer)), self.context.now().seconds
            )
        except RecordExists as exc:
            return self.replay(exc.record)
        if isinstance(write.card, CardUpdate) and write.card.reset_pin:
            self.context.pin_unsettled.discard(write.card.lookup)
        return answer

    def fail(self, error: BusinessError, check: CardCheck | None) -> Reply:
        """A business error decided against stored state: stored (when keyed) atomically with a
        check that the card is still as read."""
        answer = reply_for(error)
        if not self.keyed:
            return answer
        return self.commit(answer, Write(card=check))


def entry(
    context: RequestContext,
    card: Card,
    kind: str,
    *,
    record: str,
    currency: str,
    balance_after: int,
    held_after: int | None = None,
    store_id: str | None = None,
    instrument_id: str = "",
    reason: str = "",
    at: Instant | None = None,
) -> LedgerEntry:
    """A ledger entry moving ``card`` to ``balance_after``/``held_after`` (default: held as is).
    ``actor`` is the request's: the operator's IAM ARN, else NewStore's API key id."""
    held_after = card.held if held_after is None else held_after
    amount = (balance_after + held_after) - (card.balance + card.held)
    return LedgerEntry(
        lookup=card.lookup,
        kind=kind,
        amount=amount,
        currency=currency,
        balance_before=card.balance,
        balance_after=balance_after,
        held_before=card.held,
        held_after=held_after,
        created_at=(at or context.now()).iso_micro,
        record_pk=record,
        request_id=context.request_id,
        key_id=context.key_id,
        store_id=store_id or "",
        instrument_id=instrument_id,
        actor=context.actor or context.key_id,
        reason=reason,
        last4=card.last4,
    )
