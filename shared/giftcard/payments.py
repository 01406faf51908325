"""What the payment operations share (reserve, capture, refund, revoke, the expiry job).

Reading an instrument with its card and idempotency record in one call, refusing with the one
code NewStore expects, and committing card, instrument and ledger entry as one transaction.
See ``giftcard.redemption`` for how money moves.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from giftcard import money
from giftcard.cards import Card, Instrument
from giftcard.clock import Instant
from giftcard.errors import (
    AmountOutOfRange,
    BusinessError,
    FailedCommand,
    InstrumentError,
)
from giftcard.models import (
    InstrumentCaptureRequest,
    InstrumentRefundRequest,
    InstrumentRevokeRequest,
    InstrumentTransaction,
    TransactionReason,
    TransactionsResponse,
)
from giftcard.observability import logger
from giftcard.operation import (
    Idempotency,
    RequestContext,
    with_retries,
)
from giftcard.replies import Reply, reply
from giftcard.settings import Settings
from giftcard.writes import (
    CardCheck,
    CardUpdate,
    InstrumentConflict,
    InstrumentWrite,
    StoredRecord,
    Write,
)

#: Idempotency scopes (one per operation) and the expiry job's own.

CREATE = "instrument_create"
CAPTURE = "instrument_capture"
REFUND = "instrument_refund"
REVOKE = "instrument_revoke"
EXPIRY = "reservation_expiry"


class InconsistentState(RuntimeError):
    """Stored state breaks an invariant (e.g. an instrument's card is missing): 500, no change."""


def metadata_of(metadata: dict[str, Any] | None) -> dict[str, Any]:
    return dict(metadata) if metadata else {}


def store_id_of(metadata: dict[str, Any]) -> str | None:
    store_id = metadata.get("store_id")
    return store_id if isinstance(store_id, str) else None


def transaction(
    instrument: Instrument,
    reason: TransactionReason,
    now: Instant,
    metadata: dict[str, Any],
    *,
    capture: int = 0,
    refund: int = 0,
) -> InstrumentTransaction:
    return InstrumentTransaction(
        transaction_id=str(uuid.uuid4()),
        instrument_id=instrument.instrument_id,
        capture_amount=money.to_major(capture, instrument.currency),
        refund_amount=money.to_major(refund, instrument.currency),
        currency=instrument.currency,
        reason=reason,
        processed_at=now.iso,
        metadata=metadata,
    )


def command_amount(value: Decimal, currency: str, settings: Settings) -> int | None:
    """Minor units of a capture/refund/revoke amount; None when it is over the per-card maximum
    (no instrument can hold that much, so the command answers ``failed_command``)."""
    try:
        return money.to_minor(value, currency, settings)
    except AmountOutOfRange:
        return None


def refuse(
    idempotency: Idempotency,
    error: BusinessError,
    why: str,
    check: CardCheck | None = None,
    *,
    card_last4: str | None = None,
    on: Instrument | None = None,
) -> Reply:
    logger.info(
        "payment command refused",
        error_code=error.error_code,
        reason=why,
        card_last4=on.last4 if on is not None else card_last4,
        instrument_id=on.instrument_id if on is not None else None,
    )
    return idempotency.fail(error, check)


def expired(instrument: Instrument, now: Instant) -> bool:
    return now.seconds >= instrument.expires_at


def read(
    context: RequestContext, idempotency: Idempotency | None, instrument_id: str
) -> tuple[StoredRecord | None, Instrument | None, Card | None]:
    """The live idempotency record, the instrument and its card, in one ``BatchGetItem``.

    The instrument id carries its card's lookup key (``KeyMaterial.new_instrument_id``); an id
    that is not ours reads only the record (a replay is still a replay)."""
    lookup = context.keys.instrument_card(instrument_id)
    if lookup is None and idempotency is None:
        return None, None, None
    card, stored, instrument = context.repository.get_many(
        lookup,
        idempotency.pk if idempotency is not None else None,
        instrument_id if lookup is not None else None,
    )
    if instrument is not None and (card is None or instrument.lookup != lookup):
        logger.error("instrument without its card", instrument_id=instrument_id)
        raise InconsistentState("instrument without its card")
    live = idempotency.live(stored) if idempotency is not None else None
    return live, instrument, card


def commit(
    context: RequestContext,
    idempotency: Idempotency,
    *,
    card: Card,
    before: Instrument,
    counted: Instrument,
    kind: str,
    balance_after: int,
    held_after: int,
    transactions: list[InstrumentTransaction],
    now: Instant,
    metadata: dict[str, Any],
) -> Reply:
    """Card, instrument (as ``counted``, at the next version) and ledger entry as one
    transaction, each conditioned on what was read; the answer lists ``transactions``."""
    if balance_after < 0 or held_after < 0:
        # A batch read is not a snapshot: the instrument and its card may have been read either
        # side of another command's commit. The commit would fail on the versions anyway.
        raise InstrumentConflict(None)
    store_id = store_id_of(metadata)
    after = replace(counted, version=before.version + 1)
    answer = reply(200, TransactionsResponse(transactions=transactions))
    ledger = idempotency.entry(
        card,
        kind,
        currency=before.currency,
        balance_after=balance_after,
        held_after=held_after,
        instrument_id=before.instrument_id,
        store_id=store_id,
        at=now,
    )
    write = Write(
        card=CardUpdate(
            lookup=card.lookup,
            expect_version=card.version,
            balance=balance_after,
            held=held_after,
        ),
        instrument=InstrumentWrite(after, expect_version=before.version),
        entries=[ledger],
    )
    result = idempotency.commit(answer, write)
    if result is answer:
        logger.info(
            "payment command done",
            kind=kind,
            amount_minor=ledger.amount,
            instrument_id=before.instrument_id,
            card_last4=card.last4,
            store_id=store_id,
        )
    return result


@dataclass(frozen=True)
class Opened:
    """A command on an instrument past the opening every such command shares: what its own
    decision needs, and the ways it can end (refuse, or commit card, instrument and entry)."""

    context: RequestContext
    idempotency: Idempotency
    instrument: Instrument
    card: Card
    metadata: dict[str, Any]
    now: Instant

    def refuse(self, error: BusinessError, why: str) -> Reply:
        return refuse(self.idempotency, error, why, on=self.instrument)

    def transaction(self, reason: TransactionReason, **amounts: int) -> InstrumentTransaction:
        return transaction(self.instrument, reason, self.now, self.metadata, **amounts)

    def commit(
        self,
        *,
        counted: Instrument,
        kind: str,
        balance_after: int,
        held_after: int,
        transactions: list[InstrumentTransaction],
    ) -> Reply:
        return commit(
            self.context,
            self.idempotency,
            card=self.card,
            before=self.instrument,
            counted=counted,
            kind=kind,
            balance_after=balance_after,
            held_after=held_after,
            transactions=transactions,
            now=self.now,
            metadata=self.metadata,
        )


#: The requests of the commands on an instrument.
CommandRequest = InstrumentCaptureRequest | InstrumentRefundRequest | InstrumentRevokeRequest


def run_command(
    scope: str,
    request: CommandRequest,
    context: RequestContext,
    decide: Callable[[Opened], Reply],
) -> Reply:
    """Capture, refund and revoke: read the record, the instrument and its card together; a
    live record replays, an unknown instrument is ``failed_command``, another currency (when
    given) ``instrument_error``; otherwise ``decide`` answers, with bounded retries around it."""
    idempotency = Idempotency(context, scope, request.idempotency_key, request)
    metadata = metadata_of(request.metadata)

    def attempt() -> Reply:
        live, instrument, card = read(context, idempotency, request.instrument_id)
        if live is not None:
            return idempotency.replay(live)
        if instrument is None or card is None:
            return refuse(idempotency, FailedCommand(), "unknown instrument")
        if request.currency is not None and request.currency != instrument.currency:
            return refuse(idempotency, InstrumentError(), "currency mismatch", on=instrument)
        return decide(Opened(context, idempotency, instrument, card, metadata, context.now()))

    return with_retries(context, attempt)
