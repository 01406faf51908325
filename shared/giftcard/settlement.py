"""Commands on a reservation: capture, refund, revoke, and the job that releases expired ones.

Each reads the idempotency record, the instrument and its card in one call (the instrument id
carries the card's key) and commits card, instrument and one ledger entry as one transaction.
See ``giftcard.redemption`` for how money moves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pydantic import BaseModel

from giftcard import money, table
from giftcard.cards import CardState
from giftcard.errors import (
    FailedCommand,
    InstrumentError,
)
from giftcard.metric_names import RESERVATIONS_EXPIRED
from giftcard.models import (
    InstrumentCaptureRequest,
    InstrumentRefundRequest,
    InstrumentRevokeRequest,
)
from giftcard.observability import logger, metrics
from giftcard.operation import (
    Idempotency,
    RequestContext,
    with_retries,
)

#: Idempotency scopes (one per operation) and the expiry job's own.
from giftcard.payments import (
    CAPTURE,
    EXPIRY,
    REFUND,
    REVOKE,
    Opened,
    command_amount,
    expired,
    read,
    run_command,
)
from giftcard.replies import Reply

#: The expiry job stops taking new instruments when less than this is left of its invocation.
_EXPIRY_RESERVE_SECONDS = 15.0


# Capture ------------------------------------------------------------------------------------------


def capture(request: InstrumentCaptureRequest, context: RequestContext) -> Reply:
    """Take reserved money: held -> captured (refundable). Up to what is still reserved, several
    times; works on a deactivated card. Two round trips: ``BatchGetItem`` (record, instrument and
    card) and the transaction."""
    amount = command_amount(request.amount, request.currency, context.settings)

    def decide(command: Opened) -> Reply:
        instrument, card = command.instrument, command.card
        if expired(instrument, command.now):
            return command.refuse(FailedCommand(), "reservation expired")
        if amount is None or amount > instrument.reserved:
            return command.refuse(FailedCommand(), "more than reserved")
        return command.commit(
            counted=replace(instrument, captured=instrument.captured + amount),
            kind="capture",
            balance_after=card.balance,
            held_after=card.held - amount,
            transactions=[
                command.transaction("capture", capture=-amount),
                command.transaction("capture", refund=amount),
            ],
        )

    return run_command(CAPTURE, request, context, decide)


# Refund -------------------------------------------------------------------------------------------


def refund(request: InstrumentRefundRequest, context: RequestContext) -> Reply:
    """Return captured money to the card's spendable balance. Up to what was captured and not yet
    refunded. A deactivated (or expired) card cannot take money back: ``instrument_error``, and
    NewStore refunds another way. Two round trips, like capture."""
    amount = command_amount(request.amount, request.currency, context.settings)

    def decide(command: Opened) -> Reply:
        instrument, card = command.instrument, command.card
        if amount is None or amount > instrument.refundable:
            return command.refuse(FailedCommand(), "more than refundable")
        if card.state is CardState.DEACTIVATED:
            return command.refuse(InstrumentError(), "card deactivated")
        if card.expired(command.now.iso):
            return command.refuse(InstrumentError(), "card expired")
        return command.commit(
            counted=replace(instrument, refunded=instrument.refunded + amount),
            kind="refund",
            balance_after=card.balance + amount,
            held_after=card.held,
            transactions=[command.transaction("refund", refund=-amount)],
        )

    return run_command(REFUND, request, context, decide)


# Revoke and expiry (release reserved money) ------------------------------------------------------


def _release(command: Opened, amount: int) -> Reply:
    """Reserved money back to the card's spendable balance, or voided if the card was
    deactivated meanwhile (deactivation voids spendable money; released money is no different)."""
    instrument, card = command.instrument, command.card
    voided = card.state is CardState.DEACTIVATED
    return command.commit(
        counted=replace(instrument, released=instrument.released + amount),
        kind="release_void" if voided else "release",
        balance_after=card.balance if voided else card.balance + amount,
        held_after=card.held - amount,
        transactions=[command.transaction("revoke", capture=-amount)],
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
            amount = command_amount(request.amount, request.currency, settings)

    def decide(command: Opened) -> Reply:
        instrument = command.instrument
        if instrument.reserved == 0:
            return command.refuse(FailedCommand(), "nothing reserved")
        release: int | None
        if request.amount is None:
            release = instrument.reserved
        elif request.currency is None:
            release = command_amount(request.amount, instrument.currency, settings)
        else:
            release = amount
        if release is None or release > instrument.reserved:
            return command.refuse(FailedCommand(), "more than reserved")
        return _release(command, release)

    return run_command(REVOKE, request, context, decide)


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
        _live, instrument, card = read(context, None, instrument_id)
        now = context.now()
        if (
            instrument is None
            or card is None
            or instrument.reserved == 0
            or not expired(instrument, now)
        ):
            return False
        idempotency = Idempotency(
            context,
            EXPIRY,
            None,
            _ExpiryCommand(instrument_id=instrument_id, version=instrument.version),
            internal=f"expiry:{instrument_id}:{instrument.version}",
        )
        _release(Opened(context, idempotency, instrument, card, {}, now), instrument.reserved)
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
