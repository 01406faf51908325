"""Spending a card: NewStore's Payment Provider Webhooks on the card ledger.

NewStore creates a *financial instrument* that reserves money on a card, then captures, refunds
or revokes against it. The money moves between the card's spendable balance and its held
(reserved) amount; the instrument counts what was authorized, captured, refunded and released:

==========================  =========  ======  ================  ==============
operation                   spendable  held    ledger entry      card value
==========================  =========  ======  ================  ==============
reserve                     -x         +x      ``hold``          0
capture                                -x      ``capture``       -x
refund                      +x                 ``refund``        +x
revoke / expiry             +x         -x      ``release``       0
revoke / expiry, card       .          -x      ``release_void``  -x
deactivated
==========================  =========  ======  ================  ==============

A ledger entry's amount is the change of the card's value (spendable + held), so "balance + held
== sum of the card's ledger entries" holds through every flow.

Each operation commits one ``TransactWriteItems``: idempotency record + card (conditioned on the
version as read) + instrument (created, or conditioned on its version) + one ledger entry. A lost
race re-reads and decides again (``with_retries``); a key seen before replays its first answer.
Refusals are stored under the key too. They change nothing, so they are final as of the state
they were decided on, and every retry with the key gets the same answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from giftcard import money, table
from giftcard.cards import Card, CardState, Instrument
from giftcard.clock import Instant
from giftcard.errors import (
    AmountOutOfRange,
    BusinessError,
    FailedCommand,
    InstrumentError,
    InvalidCard,
)
from giftcard.models import (
    InstrumentCaptureRequest,
    InstrumentCreateRequest,
    InstrumentCreateResponse,
    InstrumentRefundRequest,
    InstrumentRevokeRequest,
    InstrumentTransaction,
    TransactionReason,
    TransactionsResponse,
)
from giftcard.observability import RESERVATIONS_EXPIRED, logger, metrics
from giftcard.operation import (
    Idempotency,
    RequestContext,
    card_lookup_for,
    entry,
    with_retries,
)
from giftcard.pins import prove_pin
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

#: The expiry job stops taking new instruments when less than this is left of its invocation.
_EXPIRY_RESERVE_SECONDS = 15.0


class InconsistentState(RuntimeError):
    """Stored state breaks an invariant (e.g. an instrument's card is missing): 500, no change."""


# Shared pieces ----------------------------------------------------------------------------------


def _metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    return dict(metadata) if metadata else {}


def _store_id(metadata: dict[str, Any]) -> str | None:
    store_id = metadata.get("store_id")
    return store_id if isinstance(store_id, str) else None


def _transaction(
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


def _command_amount(value: Decimal, currency: str, settings: Settings) -> int | None:
    """Minor units of a capture/refund/revoke amount; None when it is over the per-card maximum
    (no instrument can hold that much, so the command answers ``failed_command``)."""
    try:
        return money.to_minor(value, currency, settings)
    except AmountOutOfRange:
        return None


def _refuse(
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


def _expired(instrument: Instrument, now: Instant) -> bool:
    return now.seconds >= instrument.expires_at


def _read(
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


def _commit(
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
    store_id = _store_id(metadata)
    after = replace(counted, version=before.version + 1)
    answer = reply(200, TransactionsResponse(transactions=transactions))
    ledger = entry(
        context,
        card,
        kind,
        record=idempotency.pk,
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


# Reserve (create the instrument) ----------------------------------------------------------------


def _cannot_pay(card: Card, currency: str, now: Instant) -> str | None:
    if card.state is CardState.INACTIVE:
        return "card not active"
    if card.state is CardState.DEACTIVATED:
        return "card deactivated"
    if card.expired(now.iso):
        return "card expired"
    if card.currency != currency:
        return "currency mismatch"
    return None


def reserve(request: InstrumentCreateRequest, context: RequestContext) -> Reply:
    """Reserve funds on a card: spendable -> held, a new instrument, a ``hold`` ledger entry.

    Checks in the contract's order: card, PIN (lockout first), then state, currency and funds;
    every refusal is the one ``instrument_error``. Two round trips: ``BatchGetItem`` (card and
    idempotency record) and the transaction.
    """
    settings = context.settings
    amount = money.to_minor(request.amount, request.currency, settings)
    idempotency = Idempotency(context, CREATE, request.idempotency_key, request)
    metadata = _metadata(request.metadata)
    store_id = _store_id(metadata)
    found = card_lookup_for(request.instrument.number, context.keys)
    if found is None:
        return with_retries(
            context, lambda: _refuse(idempotency, InstrumentError(), "unknown card")
        )
    _number, lookup = found

    def attempt() -> Reply:
        card, stored, _ = context.repository.get_many(lookup, idempotency.pk)
        if (live := idempotency.live(stored)) is not None:
            return idempotency.replay(live)
        if card is None:
            return _refuse(idempotency, InstrumentError(), "unknown card", CardCheck(lookup, None))
        proof = None
        if card.has_pin:
            pin = request.instrument.pin
            try:
                if not pin:
                    raise InvalidCard()  # missing: refused, but no guess
                proof = prove_pin(context, lookup, pin, read=card, token=idempotency.pin_token())
            except InvalidCard:
                return _refuse(
                    idempotency, InstrumentError(), "card not verified", card_last4=card.last4
                )
            card = proof.card
        now = context.now()
        check = CardCheck(lookup, card.version)
        reserved = min(amount, card.balance) if request.allow_partial else amount
        why = _cannot_pay(card, request.currency, now)
        if why is None and (reserved <= 0 or reserved > card.balance):
            why = "insufficient funds"
        if why is not None:
            return _refuse(idempotency, InstrumentError(), why, check, card_last4=card.last4)
        instrument = Instrument(
            instrument_id=context.keys.new_instrument_id(lookup),
            lookup=lookup,
            currency=request.currency,
            authorized=reserved,
            captured=0,
            refunded=0,
            released=0,
            version=1,
            created_at=now.iso,
            expires_at=now.seconds + settings.reservation_expiry_seconds,
            account_id=request.account_id or "",
            last4=card.last4,
        )
        answer = reply(
            200,
            InstrumentCreateResponse(
                identifier=instrument.instrument_id,
                transactions=[
                    _transaction(instrument, "authorization", now, metadata, capture=reserved)
                ],
            ),
        )
        hold = entry(
            context,
            card,
            "hold",
            record=idempotency.pk,
            currency=request.currency,
            balance_after=card.balance - reserved,
            held_after=card.held + reserved,
            instrument_id=instrument.instrument_id,
            store_id=store_id,
            at=now,
        )
        update = CardUpdate(
            lookup=lookup,
            expect_version=card.version,
            balance=card.balance - reserved,
            held=card.held + reserved,
            reset_pin=proof is not None and proof.charged,
        )
        result = idempotency.commit(
            answer,
            Write(card=update, instrument=InstrumentWrite(instrument, None), entries=[hold]),
        )
        if result is answer:
            logger.info(
                "funds reserved",
                amount_minor=reserved,
                partial=reserved < amount,
                instrument_id=instrument.instrument_id,
                card_last4=card.last4,
                store_id=store_id,
            )
        return result

    return with_retries(context, attempt)


# Capture ------------------------------------------------------------------------------------------


def capture(request: InstrumentCaptureRequest, context: RequestContext) -> Reply:
    """Take reserved money: held -> captured (refundable). Up to what is still reserved, several
    times; works on a deactivated card. Two round trips: ``BatchGetItem`` (record, instrument and
    card) and the transaction."""
    amount = _command_amount(request.amount, request.currency, context.settings)
    idempotency = Idempotency(context, CAPTURE, request.idempotency_key, request)
    metadata = _metadata(request.metadata)

    def attempt() -> Reply:
        live, instrument, card = _read(context, idempotency, request.instrument_id)
        if live is not None:
            return idempotency.replay(live)
        if instrument is None or card is None:
            return _refuse(idempotency, FailedCommand(), "unknown instrument")
        if request.currency != instrument.currency:
            return _refuse(idempotency, InstrumentError(), "currency mismatch", on=instrument)
        now = context.now()
        if _expired(instrument, now):
            return _refuse(idempotency, FailedCommand(), "reservation expired", on=instrument)
        if amount is None or amount > instrument.reserved:
            return _refuse(idempotency, FailedCommand(), "more than reserved", on=instrument)
        return _commit(
            context,
            idempotency,
            card=card,
            before=instrument,
            counted=replace(instrument, captured=instrument.captured + amount),
            kind="capture",
            balance_after=card.balance,
            held_after=card.held - amount,
            transactions=[
                _transaction(instrument, "capture", now, metadata, capture=-amount),
                _transaction(instrument, "capture", now, metadata, refund=amount),
            ],
            now=now,
            metadata=metadata,
        )

    return with_retries(context, attempt)


# Refund -------------------------------------------------------------------------------------------


def refund(request: InstrumentRefundRequest, context: RequestContext) -> Reply:
    """Return captured money to the card's spendable balance. Up to what was captured and not yet
    refunded. A deactivated (or expired) card cannot take money back: ``instrument_error``, and
    NewStore refunds another way. Two round trips, like capture."""
    amount = _command_amount(request.amount, request.currency, context.settings)
    idempotency = Idempotency(context, REFUND, request.idempotency_key, request)
    metadata = _metadata(request.metadata)

    def attempt() -> Reply:
        live, instrument, card = _read(context, idempotency, request.instrument_id)
        if live is not None:
            return idempotency.replay(live)
        if instrument is None or card is None:
            return _refuse(idempotency, FailedCommand(), "unknown instrument")
        if request.currency != instrument.currency:
            return _refuse(idempotency, InstrumentError(), "currency mismatch", on=instrument)
        if amount is None or amount > instrument.refundable:
            return _refuse(idempotency, FailedCommand(), "more than refundable", on=instrument)
        now = context.now()
        if card.state is CardState.DEACTIVATED:
            return _refuse(idempotency, InstrumentError(), "card deactivated", on=instrument)
        if card.expired(now.iso):
            return _refuse(idempotency, InstrumentError(), "card expired", on=instrument)
        return _commit(
            context,
            idempotency,
            card=card,
            before=instrument,
            counted=replace(instrument, refunded=instrument.refunded + amount),
            kind="refund",
            balance_after=card.balance + amount,
            held_after=card.held,
            transactions=[_transaction(instrument, "refund", now, metadata, refund=-amount)],
            now=now,
            metadata=metadata,
        )

    return with_retries(context, attempt)


# Revoke and expiry (release reserved money) ------------------------------------------------------


def _release(
    context: RequestContext,
    idempotency: Idempotency,
    instrument: Instrument,
    card: Card,
    amount: int,
    now: Instant,
    metadata: dict[str, Any],
) -> Reply:
    """Reserved money back to the card's spendable balance, or voided if the card was
    deactivated meanwhile (deactivation voids spendable money; released money is no different)."""
    voided = card.state is CardState.DEACTIVATED
    return _commit(
        context,
        idempotency,
        card=card,
        before=instrument,
        counted=replace(instrument, released=instrument.released + amount),
        kind="release_void" if voided else "release",
        balance_after=card.balance if voided else card.balance + amount,
        held_after=card.held - amount,
        transactions=[_transaction(instrument, "revoke", now, metadata, capture=-amount)],
        now=now,
        metadata=metadata,
    )


def revoke(request: InstrumentRevokeRequest, context: RequestContext) -> Reply:
    """Release reserved money (default: all still reserved). Two round trips, like capture.

    Without ``currency`` the amount is read in the instrument's currency; a reservation past its
    expiry that the expiry job has not released yet can still be revoked (same effect).
    """
    settings = context.settings
    amount: int | None = None
    if request.currency is not None:
        money.check_currency(request.currency, settings)
        if request.amount is not None:
            amount = _command_amount(request.amount, request.currency, settings)
    idempotency = Idempotency(context, REVOKE, request.idempotency_key, request)
    metadata = _metadata(request.metadata)

    def attempt() -> Reply:
        live, instrument, card = _read(context, idempotency, request.instrument_id)
        if live is not None:
            return idempotency.replay(live)
        if instrument is None or card is None:
            return _refuse(idempotency, FailedCommand(), "unknown instrument")
        if request.currency is not None and request.currency != instrument.currency:
            return _refuse(idempotency, InstrumentError(), "currency mismatch", on=instrument)
        if instrument.reserved == 0:
            return _refuse(idempotency, FailedCommand(), "nothing reserved", on=instrument)
        release: int | None
        if request.amount is None:
            release = instrument.reserved
        elif request.currency is None:
            release = _command_amount(request.amount, instrument.currency, settings)
        else:
            release = amount
        if release is None or release > instrument.reserved:
            return _refuse(idempotency, FailedCommand(), "more than reserved", on=instrument)
        return _release(context, idempotency, instrument, card, release, context.now(), metadata)

    return with_retries(context, attempt)


class _ExpiryCommand(BaseModel):
    """What the expiry job's idempotency record is about (one release per instrument version)."""

    instrument_id: str
    version: int


def expire_one(context: RequestContext, instrument_id: str) -> bool:
    """Release everything an expired reservation still holds. True if this call released it.

    Keyed ``expiry:<instrument id>:<version>`` and conditioned on the instrument's version, so a
    re-run, an overlapping run or a racing capture/revoke can never release twice.
    """

    def attempt() -> bool:
        _live, instrument, card = _read(context, None, instrument_id)
        now = context.now()
        if (
            instrument is None
            or card is None
            or instrument.reserved == 0
            or not _expired(instrument, now)
        ):
            return False
        idempotency = Idempotency(
            context,
            EXPIRY,
            None,
            _ExpiryCommand(instrument_id=instrument_id, version=instrument.version),
            internal=f"expiry:{instrument_id}:{instrument.version}",
        )
        _release(context, idempotency, instrument, card, instrument.reserved, now, {})
        return True

    return with_retries(context, attempt)


def expire_reservations(
    context: RequestContext, time_left: Callable[[], float] | None = None
) -> dict[str, int]:
    """The expiry job: release every reservation past its expiry (sparse index, all shards).

    One instrument's failure does not stop the others; ``failed`` counts them (a re-run retries
    them). Stops early, leaving the rest to the next run, when the invocation runs out of time.
    """
    now = context.now()
    summary = {"found": 0, "released": 0, "skipped": 0, "failed": 0, "deferred": 0}
    for instrument_id in context.repository.expired_instrument_ids(
        now.seconds, table.OPEN_RESERVATIONS_SHARDS
    ):
        if time_left is not None and time_left() < _EXPIRY_RESERVE_SECONDS:
            summary["deferred"] += 1
            continue
        summary["found"] += 1
        try:
            released = expire_one(context, instrument_id)
        except Exception:
            logger.exception("reservation expiry failed", instrument_id=instrument_id)
            summary["failed"] += 1
            continue
        summary["released" if released else "skipped"] += 1
    metrics.add_metric(name=RESERVATIONS_EXPIRED, unit="Count", value=summary["released"])
    log = logger.warning if summary["failed"] or summary["deferred"] else logger.info
    log("reservation expiry run", extra=summary)
    return summary
