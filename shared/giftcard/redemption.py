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

from giftcard import money
from giftcard.cards import Card, CardState, Instrument
from giftcard.clock import Instant
from giftcard.errors import (
    InstrumentError,
    InvalidCard,
)
from giftcard.models import (
    InstrumentCreateRequest,
    InstrumentCreateResponse,
)
from giftcard.observability import logger
from giftcard.operation import (
    Idempotency,
    RequestContext,
    card_lookup_for,
    with_retries,
)

#: Idempotency scopes (one per operation) and the expiry job's own.
from giftcard.payments import (
    CREATE,
    metadata_of,
    refuse,
    store_id_of,
    transaction,
)
from giftcard.pins import prove_pin
from giftcard.replies import Reply, reply
from giftcard.writes import (
    CardCheck,
    CardUpdate,
    InstrumentWrite,
    Write,
)

# Reserve (create the instrument) ----------------------------------------------------------------


def _cannot_pay(card: Card, currency: str, now: Instant) -> str | None:
    if card.frozen is not None:
        return "card frozen"
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

    Checks in the contract's order: card, PIN (lockout first), then an operator's block, state,
    currency and funds; every refusal is the one ``instrument_error``. Two round trips:
    ``BatchGetItem`` (card and idempotency record) and the transaction, which also resets the PIN
    window; with a PIN, the guess is charged between them (three).
    """
    settings = context.settings
    amount = money.to_minor(request.amount, request.currency, settings)
    idempotency = Idempotency(context, CREATE, request.idempotency_key, request)
    metadata = metadata_of(request.metadata)
    store_id = store_id_of(metadata)
    found = card_lookup_for(request.instrument.number, context.keys)
    if found is None:
        return with_retries(context, lambda: refuse(idempotency, InstrumentError(), "unknown card"))
    _number, lookup = found

    def attempt() -> Reply:
        card, stored, _ = context.repository.get_many(lookup, idempotency.pk)
        if (live := idempotency.live(stored)) is not None:
            return idempotency.replay(live)
        if card is None:
            return refuse(idempotency, InstrumentError(), "unknown card", CardCheck(lookup, None))
        proof = None
        if card.has_pin:
            pin = request.instrument.pin
            try:
                if not pin:
                    raise InvalidCard()  # missing: refused, but no guess
                proof = prove_pin(context, lookup, pin, read=card, token=idempotency.pin_token())
            except InvalidCard:
                return refuse(
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
            return refuse(idempotency, InstrumentError(), why, check, card_last4=card.last4)
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
                    transaction(instrument, "authorization", now, metadata, capture=reserved)
                ],
            ),
        )
        hold = idempotency.entry(
            card,
            "hold",
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
