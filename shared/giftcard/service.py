"""The gift card webhooks: balance, issue, activate, deactivate.

Each function takes a validated request model and a ``RequestContext`` and returns the
``Reply``; what every operation shares (retries, idempotency, ledger entries) is in
``giftcard.operation``, the PIN guard in ``giftcard.pins``.
"""

from __future__ import annotations

from dataclasses import replace

from giftcard import money
from giftcard.cards import (
    Card,
    CardState,
    generate_number,
    generate_pin,
    last4,
)
from giftcard.clock import Instant
from giftcard.errors import (
    BusinessError,
    CardAlreadyActive,
    CardDeactivated,
    CardExpired,
    CardFrozen,
    CardNotActive,
    CardNotFound,
    InvalidCard,
    IssuanceLimitReached,
)
from giftcard.items import card_pk
from giftcard.jsonio import dumps
from giftcard.metric_names import ISSUANCE_CEILING_NEAR, ISSUANCE_LIMIT_REACHED
from giftcard.models import (
    ActivatedIdentifier,
    ActivateRequest,
    ActivateResponse,
    BalanceRequest,
    BalanceResponse,
    Customer,
    DeactivateRequest,
    DeactivateResponse,
    IssuedIdentifier,
    IssueRequest,
    IssueResponse,
    MoneyOut,
)
from giftcard.observability import (
    logger,
    metrics,
)
from giftcard.operation import (
    DecideAgain,
    Idempotency,
    RequestContext,
    card_lookup_for,
    with_retries,
)
from giftcard.pins import prove_pin
from giftcard.replies import Reply, reply
from giftcard.writes import (
    CardCheck,
    CardConflict,
    CardCreate,
    CardRegistration,
    CardUpdate,
    IssuanceCharge,
    IssuanceExceeded,
    Write,
)

_ISSUE_NUMBER_ATTEMPTS = 5


def _expiry(context: RequestContext, now: Instant) -> str | None:
    days = context.settings.card_expiry_days
    return now.plus(days * 86400).iso if days else None


def _store_id(metadata: object) -> str | None:
    return getattr(metadata, "store_id", None)


def _seal_customer(context: RequestContext, lookup: str, customer: Customer | None) -> bytes | None:
    if customer is None:
        return None
    return context.keys.seal(
        dumps(customer.model_dump(mode="json", exclude_none=True)), card_pk(lookup)
    )


def _customer_key(context: RequestContext, customer: Customer | None) -> str | None:
    """The customer index key of the card (the back office finds a customer's cards by it)."""
    if customer is None or not customer.id:
        return None
    return context.keys.customer_hash(customer.id)


# Return balance ----------


def balance(request: BalanceRequest, context: RequestContext) -> Reply:
    """Spendable balance. Checks in the contract's order: card, PIN (lockout first), then an
    operator's block (``card_frozen``), state and expiry."""
    found = card_lookup_for(request.identifier.number, context.keys)
    if found is None:
        raise InvalidCard()
    _number, lookup = found

    def attempt() -> Reply:
        pin = request.identifier.pin
        if pin:
            proof = prove_pin(context, lookup, pin)
            card = proof.card
        else:
            stored = context.repository.get_card(lookup)
            if stored is None or stored.has_pin:
                raise InvalidCard()  # unknown, or a PIN is required (a missing one is no guess)
            card = stored
        if card.frozen is not None:
            raise CardFrozen()
        if card.state is CardState.INACTIVE:
            raise CardNotActive()
        if card.state is CardState.DEACTIVATED:
            raise CardDeactivated()
        if card.expired(context.now().iso):
            raise CardExpired()
        assert card.currency is not None
        logger.info("balance answered", card_last4=card.last4, store_id=_store_id(request.metadata))
        return reply(
            200,
            BalanceResponse(
                value=money.to_major(card.balance, card.currency), currency=card.currency
            ),
        )

    return with_retries(context, attempt)


# Loading value (issue, activate): the daily ceiling per currency ----------


def commit_load(
    context: RequestContext,
    idempotency: Idempotency,
    answer: Reply,
    write: Write,
    currency: str,
    amount: int,
) -> Reply:
    """Commit a load of ``amount`` together with the day's issuance counter of ``currency``.

    The counter rides in the load's own transaction, conditioned on the day's total staying
    within the ceiling, so concurrent loads can never pass it together (a leaked API key cannot
    mint value without limit). The first try also asks to stay below the alert level; a load
    that passes it is retried against the ceiling itself and raises the alarm's metric. Past the
    ceiling the load is refused with ``issuance_limit_reached`` (stored under the key).
    """
    ceiling, alert = money.issuance_ceiling_minor(currency, context.settings)
    now = context.now()
    limit = alert
    while amount <= ceiling:
        charge = IssuanceCharge(currency, now.iso[:10], amount, limit, now.seconds)
        try:
            return idempotency.commit(answer, replace(write, issuance=charge))
        except IssuanceExceeded as exceeded:
            if limit < ceiling and exceeded.issued + amount <= ceiling:
                metrics.add_metric(name=ISSUANCE_CEILING_NEAR, unit="Count", value=1)
                logger.warning(
                    "issuance past the alert level of the daily ceiling",
                    currency=currency,
                    issued_minor=exceeded.issued,
                    ceiling_minor=ceiling,
                )
                limit = ceiling
                continue
            break
    metrics.add_metric(name=ISSUANCE_LIMIT_REACHED, unit="Count", value=1)
    logger.warning("issuance refused: daily ceiling reached", currency=currency)
    return idempotency.fail(IssuanceLimitReached(), None)


# Issue ----------


def issue(request: IssueRequest, context: RequestContext) -> Reply:
    """A new card with a generated number and PIN, active and funded (or, with the
    ``issued cards need activation`` setting and ``original_operation = activation``,
    inactive and unfunded until a later activate)."""
    settings = context.settings
    currency = request.amount.currency
    amount = money.to_minor(request.amount.value, currency, settings)
    original_operation = request.metadata.original_operation if request.metadata else None
    unfunded = settings.issued_cards_need_activation and original_operation == "activation"
    idempotency = Idempotency(context, "issue", request.idempotence_key, request)
    store_id = _store_id(request.metadata)

    def attempt() -> Reply:
        for _ in range(_ISSUE_NUMBER_ATTEMPTS):
            now = context.now()
            number = generate_number(settings.card_number_prefix, settings.card_number_length)
            pin = generate_pin(settings.pin_length)
            lookup = context.keys.card_lookup(number)
            card = Card(
                lookup=lookup,
                state=CardState.INACTIVE if unfunded else CardState.ACTIVE,
                last4=last4(number),
                currency=None if unfunded else currency,
                balance=0 if unfunded else amount,
                version=1,
                pin_hash=context.keys.pin_hash(lookup, pin),
                created_at=now.iso,
                activated_at=None if unfunded else now.iso,
                expires_at=None if unfunded else _expiry(context, now),
                source="issued",
                customer_key=_customer_key(context, request.customer),
            )
            answer = reply(
                200,
                IssueResponse(
                    identifier=IssuedIdentifier(number=number, pin=pin),
                    amount=MoneyOut(value=money.to_major(amount, currency), currency=currency),
                ),
            )
            empty = Card(lookup=lookup, state=CardState.INACTIVE, last4=card.last4)
            entries = (
                []
                if unfunded
                else [
                    idempotency.entry(
                        empty,
                        "issue",
                        currency=currency,
                        balance_after=amount,
                        store_id=store_id,
                        at=now,
                    )
                ]
            )
            write = Write(
                card=CardCreate(card, _seal_customer(context, lookup, request.customer)),
                entries=entries,
            )
            try:
                if unfunded:
                    result = idempotency.commit(answer, write)
                else:
                    result = commit_load(context, idempotency, answer, write, currency, amount)
            except CardConflict:
                logger.warning("generated card number collided; drawing another")
                continue
            if result is answer:
                logger.info(
                    "card issued",
                    card_last4=card.last4,
                    state=str(card.state),
                    store_id=store_id,
                    original_operation=original_operation,
                )
            return result
        raise DecideAgain()

    return with_retries(context, attempt)


# Activate ----------


def activate(request: ActivateRequest, context: RequestContext) -> Reply:
    """Activate an inactive card (printed stock, or issued inactive) and load its amount.

    One transaction without a prior read: the card update is conditioned on the card being
    inactive and not frozen (or absent, when unknown numbers may be registered); if that fails,
    the stored card comes back with the failure and decides the error (a frozen card answers
    ``card_frozen`` whatever its state).
    """
    settings = context.settings
    currency = request.amount.currency
    amount = money.to_minor(request.amount.value, currency, settings)
    idempotency = Idempotency(context, "activate", request.idempotence_key, request)
    found = card_lookup_for(request.card_number, context.keys)
    store_id = _store_id(request.metadata)
    if found is None:
        return with_retries(context, lambda: idempotency.fail(CardNotFound(), None))
    number, lookup = found
    answer = reply(200, ActivateResponse(identifier=ActivatedIdentifier(number=number)))

    def attempt() -> Reply:
        now = context.now()
        inactive = Card(lookup=lookup, state=CardState.INACTIVE, last4=last4(number))
        update = CardUpdate(
            lookup=lookup,
            expect_states=(CardState.INACTIVE,),
            expect_unfrozen=True,
            allow_missing=settings.register_unknown_on_activation,
            registration=CardRegistration(last4=last4(number), created_at=now.iso),
            state=CardState.ACTIVE,
            currency=currency,
            balance=amount,
            held=0,
            activated_at=now.iso,
            expires_at=_expiry(context, now),
            customer_sealed=_seal_customer(context, lookup, request.customer),
            customer_key=_customer_key(context, request.customer),
        )
        activation = idempotency.entry(
            inactive,
            "activate",
            currency=currency,
            balance_after=amount,
            store_id=store_id,
            at=now,
        )
        try:
            result = commit_load(
                context,
                idempotency,
                answer,
                Write(card=update, entries=[activation]),
                currency,
                amount,
            )
        except CardConflict as conflict:
            stored = conflict.card
            error: BusinessError
            if stored is None:
                error = CardNotFound()
            elif stored.frozen is not None:
                error = CardFrozen()
            elif stored.state is CardState.ACTIVE:
                error = CardAlreadyActive()
            elif stored.state is CardState.DEACTIVATED:
                error = CardDeactivated()
            else:
                raise DecideAgain() from conflict
            logger.info("activation refused", card_last4=last4(number), error_code=error.error_code)
            return idempotency.fail(error, CardCheck(lookup, stored.version if stored else None))
        if result is answer:
            logger.info("card activated", card_last4=last4(number), store_id=store_id)
        return result

    return with_retries(context, attempt)


# Deactivate ----------


def deactivate(request: DeactivateRequest, context: RequestContext) -> Reply:
    """Deactivate a card (terminal) and void its spendable balance in the ledger.

    Reads the card and the idempotency record in one call (the voided amount must be known for
    the ledger entry), then commits conditioned on the card's version. Reserved money stays
    capturable (redemption).
    """
    idempotency = Idempotency(context, "deactivate", request.idempotence_key, request)
    found = card_lookup_for(request.card_number, context.keys)
    if found is None:
        return with_retries(context, lambda: idempotency.fail(InvalidCard(), None))
    _number, lookup = found

    def attempt() -> Reply:
        card, stored, _ = context.repository.get_many(lookup, idempotency.pk)
        if (live := idempotency.live(stored)) is not None:
            return idempotency.replay(live)
        if card is None:
            return idempotency.fail(InvalidCard(), CardCheck(lookup, None))
        proof = None
        if request.pin and card.has_pin:
            try:
                proof = prove_pin(
                    context, lookup, request.pin, read=card, token=idempotency.pin_token()
                )
            except InvalidCard as refused:
                return idempotency.fail(refused, None)
            card = proof.card
        if card.state is CardState.DEACTIVATED:
            assert card.deactivated_at is not None
            answer = reply(200, DeactivateResponse(deactivated_at=card.deactivated_at))
            return _store_plain(idempotency, answer, card)
        now = context.now()
        answer = reply(200, DeactivateResponse(deactivated_at=now.iso))
        void = idempotency.entry(
            card,
            "deactivate_void",
            currency=card.currency or "",
            balance_after=0,
            store_id=request.store_id,
            at=now,
        )
        update = CardUpdate(
            lookup=lookup,
            expect_version=card.version,
            state=CardState.DEACTIVATED,
            balance=0,
            deactivated_at=now.iso,
            reset_pin=proof is not None and proof.charged,
        )
        result = idempotency.commit(answer, Write(card=update, entries=[void]))
        if result is answer:
            logger.info(
                "card deactivated",
                card_last4=card.last4,
                voided_minor=card.balance,
                store_id=request.store_id,
            )
        return result

    return with_retries(context, attempt)


def _store_plain(idempotency: Idempotency, answer: Reply, card: Card) -> Reply:
    """Store an answer that changes nothing (deactivating a deactivated card), if keyed."""
    if not idempotency.keyed:
        return answer
    return idempotency.commit(answer, Write(card=CardCheck(card.lookup, card.version)))
