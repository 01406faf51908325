"""The back office: what the retailer's support, fraud and finance people do to cards
(``back-office.md``, "Operator API"). One function per operator route, each taking its request
model (``giftcard.operator_models``) and a ``RequestContext`` whose ``actor`` is the caller's IAM
ARN, and returning the ``Reply``, like the webhooks.

Every change is recorded in the card's partition as a ledger entry with who (``actor``), why
(``reason``) and when, committed in the same transaction as the change itself (one
``TransactWriteItems``: the card, conditioned on its version as read, and the entry):

=================  =================================  ===============  ===================
operation          changes                            entry            already so
=================  =================================  ===============  ===================
freeze             ``frozen`` {reason, by, at}        ``freeze``       unchanged, 200
unfreeze           removes ``frozen``                 ``unfreeze``     unchanged, 200
unlock_pin         PIN failures, lock, hard lock      ``unlock_pin``   unchanged, 200
adjust             spendable balance +/- amount       ``adjust``       (keyed: replayed)
expiry             ``expires_at`` set or removed      ``expiry_set``   unchanged, 200
customers_erase    removes customer and index key     ``customer_erased`` per card
=================  =================================  ===============  ===================

Only ``adjust`` moves money, so only it takes an idempotency key (required) and stores its answer
like the webhooks: the same key gets the same answer. The others are idempotent by what they
change: a retry (a lost answer, a second click) finds the card already as asked and changes
nothing, so they keep no idempotency record (and no copy of the card's customer in one). Their
entries move no money (amount 0: the ledger's sums and chain are untouched).

A card is named by its number or its ``card_id`` (``giftcard.items.card_id``); answers name it
only by ``card_id`` and ``last4``. Logs carry the card's last 4 digits and the action, never the
reason (free text) or the customer.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from giftcard import money
from giftcard import operator_models as views
from giftcard.cards import Card, CardState, Frozen
from giftcard.clock import Instant
from giftcard.errors import (
    BalanceOutOfRange,
    BusinessError,
    CardDeactivated,
    CardNotActive,
    CurrencyMismatch,
    Forbidden,
    InsufficientFunds,
    UnknownCard,
)
from giftcard.items import ENTRY_PREFIX, card_id, card_pk, lookup_of_card_id
from giftcard.jsonio import loads
from giftcard.models import MoneyOut
from giftcard.observability import logger
from giftcard.operation import (
    Idempotency,
    RequestContext,
    card_lookup_for,
    entry,
    with_retries,
)
from giftcard.replies import Reply, reply
from giftcard.writes import (
    LEDGER_KINDS,
    CardCheck,
    CardPartition,
    CardUpdate,
    LedgerEntry,
    Write,
)

#: The idempotency scope of adjustments (the only operator action that keeps records).
ADJUST = "admin_adjust"


# Reading a card --------------------------------------------------------------------------------


def _actor(context: RequestContext) -> str:
    """Who asks. Every operator action is recorded with it; without one, nothing is done (the
    gateway's IAM authorization puts it in the request context)."""
    if not context.actor:
        raise Forbidden()
    return context.actor


def _lookup_of(request: views.CardRequest, context: RequestContext) -> str | None:
    """The card's lookup key from its number or card_id; None when it cannot be a card."""
    if request.card_id is not None:
        return lookup_of_card_id(request.card_id)
    assert request.number is not None
    found = card_lookup_for(request.number, context.keys)
    return found[1] if found is not None else None


def _read(context: RequestContext, lookup: str | None) -> CardPartition:
    partition = context.repository.card_partition(lookup) if lookup is not None else None
    if partition is None:
        raise UnknownCard()
    return partition


def _second(iso_micro: str) -> str:
    """A ledger entry's time (to the microsecond, for ordering) as every answer writes times."""
    return f"{iso_micro[:19]}Z"


def _money(minor: int, currency: str | None) -> MoneyOut | None:
    if not currency:
        return None
    return MoneyOut(value=money.to_major(minor, currency), currency=currency)


def _customer(
    context: RequestContext, lookup: str, sealed: bytes | None
) -> views.CustomerOut | None:
    if sealed is None:
        return None
    stored = loads(context.keys.unseal(sealed, card_pk(lookup)))

    def text(name: str) -> str | None:
        value = stored.get(name) if isinstance(stored, dict) else None
        return value if isinstance(value, str) else None

    return views.CustomerOut(id=text("id"), name=text("name"), email=text("email"))


def open_reservations(entries: Any) -> int:
    """Reservations still holding money, from the ledger: an instrument's entries change the
    card's held amount by what it still reserves."""
    held: dict[str, int] = {}
    for item in entries:
        if item.instrument_id:
            change = item.held_after - item.held_before
            held[item.instrument_id] = held.get(item.instrument_id, 0) + change
    return sum(1 for amount in held.values() if amount > 0)


def last_activity(entries: Any) -> str | None:
    """The newest entry NewStore's calls wrote (an operator's action is not the holder's)."""
    times = [item.created_at for item in entries if item.kind in LEDGER_KINDS]
    return _second(max(times)) if times else None


def card_view(partition: CardPartition, context: RequestContext) -> views.Card:
    """The operator API's ``Card`` of a card as read (or as about to be written)."""
    card = partition.card
    now = context.now().seconds
    max_failures = context.settings.pin_max_failures
    # At the limit but unlocked: the lock has ended and the next guess opens a new window.
    failures = (
        0 if card.pin_failures >= max_failures and not card.locked(now) else card.pin_failures
    )
    return views.Card(
        card_id=card_id(card.lookup),
        last4=card.last4,
        state=card.state.value,
        currency=card.currency,
        balance=_money(card.balance, card.currency),
        held=_money(card.held, card.currency),
        frozen=(
            views.FrozenStatus(reason=card.frozen.reason, by=card.frozen.by, at=card.frozen.at)
            if card.frozen is not None
            else None
        ),
        pin=views.PinStatus(
            has_pin=card.has_pin,
            failures=failures,
            locked_until=(
                Instant(card.pin_locked_until).iso if card.pin_locked_until > now else None
            ),
            hard_locked=card.pin_hard_locked,
        ),
        created_at=card.created_at,
        activated_at=card.activated_at,
        deactivated_at=card.deactivated_at,
        expires_at=card.expires_at,
        last_activity_at=last_activity(partition.entries),
        open_reservations=open_reservations(partition.entries),
        customer=_customer(context, card.lookup, partition.customer_sealed),
    )


def entry_view(item: LedgerEntry) -> views.Entry:
    """The operator API's ``Entry``. Entries written before ``actor`` existed name the API key."""
    currency = item.currency or None
    moves_money = item.kind in LEDGER_KINDS or item.kind == "adjust"
    return views.Entry(
        entry_id=item.entry_id,
        kind=item.kind,  # type: ignore[arg-type]
        amount=_money(item.amount, currency) if moves_money else None,
        balance_after=_money(item.balance_after, currency),
        held_after=_money(item.held_after, currency),
        created_at=_second(item.created_at),
        store_id=item.store_id or None,
        actor=item.actor or item.key_id or None,
        reason=item.reason or None,
        instrument_id=item.instrument_id or None,
        request_id=item.request_id or None,
    )


# Lookup and history ------------------------------------------------------------------------------


def lookup(request: views.LookupRequest, context: RequestContext) -> Reply:
    """The card as an operator sees it. One Query: the card and its ledger share a partition."""
    _actor(context)
    found = _lookup_of(request, context)
    partition = with_retries(context, lambda: _read(context, found))
    return reply(200, views.CardResponse(card=card_view(partition, context)))


def history(request: views.HistoryRequest, context: RequestContext) -> Reply:
    """A page of the card's entries, newest first; ``next_cursor`` continues with older ones.
    Two round trips: the card (unknown: 404) and one Query of its entries."""
    _actor(context)
    found = _lookup_of(request, context)
    before = None
    if request.cursor is not None:
        position = views.decode_cursor(request.cursor)
        before = f"{ENTRY_PREFIX}{position}" if position else None

    def attempt() -> tuple[list[LedgerEntry], bool]:
        if found is None or context.repository.get_card(found) is None:
            raise UnknownCard()
        return context.repository.ledger_page(found, request.limit, before)

    entries, more = with_retries(context, attempt)
    next_cursor = (
        views.encode_cursor(entries[-1].sk.removeprefix(ENTRY_PREFIX)) if more and entries else None
    )
    return reply(
        200,
        views.HistoryResponse(
            entries=[entry_view(item) for item in entries], next_cursor=next_cursor
        ),
    )


# Changes without money: freeze, unfreeze, unlock PIN, expiry -----------------------------------


@dataclass(frozen=True)
class _Change:
    """What an action does to a card as read: its entry's kind, the update's fields and the card
    as it will be."""

    kind: str
    update: dict[str, Any]
    after: Card


def _record_change(
    context: RequestContext,
    partition: CardPartition,
    change: _Change,
    reason: str,
    *,
    customer_sealed: bytes | None,
) -> tuple[LedgerEntry, CardPartition]:
    """Commit ``change`` with its entry (card conditioned on its version as read): one
    transaction. A lost race raises ``CardConflict`` (the caller reads and decides again)."""
    card = partition.card
    now = context.now()
    recorded = entry(
        context,
        card,
        change.kind,
        record="",
        currency=card.currency or "",
        balance_after=card.balance,
        reason=reason,
        at=now,
    )
    update = CardUpdate(lookup=card.lookup, expect_version=card.version, **change.update)
    context.repository.commit(Write(card=update, entries=[recorded]), now.seconds)
    after = CardPartition(
        change.after.with_(version=card.version + 1),
        customer_sealed,
        [*partition.entries, recorded],
    )
    logger.info("operator action recorded", kind=change.kind, card_last4=card.last4)
    return recorded, after


def _act(
    request: views.CardRequest,
    reason: str,
    context: RequestContext,
    plan: Callable[[Card, Instant, str], _Change | None],
) -> Reply:
    """Read the card, let ``plan`` decide (None: already as asked, nothing written), commit."""
    actor = _actor(context)
    found = _lookup_of(request, context)

    def attempt() -> Reply:
        partition = _read(context, found)
        change = plan(partition.card, context.now(), actor)
        if change is not None:
            _, partition = _record_change(
                context, partition, change, reason, customer_sealed=partition.customer_sealed
            )
        return reply(200, views.CardResponse(card=card_view(partition, context)))

    return with_retries(context, attempt)


def freeze(request: views.FreezeRequest, context: RequestContext) -> Reply:
    """Block new spending and loading (balance and activate: ``card_frozen``; reserve:
    ``instrument_error``). Captures and revokes of earlier reservations, refunds and
    deactivation still work. Already frozen: unchanged (the first freeze's reason stays)."""

    def plan(card: Card, now: Instant, actor: str) -> _Change | None:
        if card.frozen is not None:
            return None
        frozen = Frozen(reason=request.reason, by=actor, at=now.iso)
        return _Change("freeze", {"frozen": frozen}, card.with_(frozen=frozen))

    return _act(request, request.reason, context, plan)


def unfreeze(request: views.UnfreezeRequest, context: RequestContext) -> Reply:
    """Lift the block. Not frozen: unchanged."""

    def plan(card: Card, _now: Instant, _actor: str) -> _Change | None:
        if card.frozen is None:
            return None
        return _Change("unfreeze", {"unfreeze": True}, card.with_(frozen=None))

    return _act(request, request.reason, context, plan)


def _pin_clear(card: Card) -> bool:
    return (
        card.pin_failures == 0
        and card.pin_locked_until == 0
        and card.pin_lockouts == 0
        and not card.pin_hard_locked
    )


def unlock_pin(request: views.UnlockPinRequest, context: RequestContext) -> Reply:
    """Clear the PIN's failures, lock, lockout streak and hard lock (what a right PIN resets).
    Nothing to clear (or no PIN): unchanged."""

    def plan(card: Card, _now: Instant, _actor: str) -> _Change | None:
        if _pin_clear(card):
            return None
        cleared = card.with_(
            pin_failures=0, pin_locked_until=0, pin_lockouts=0, pin_hard_locked=False, pin_charge=""
        )
        return _Change("unlock_pin", {"reset_pin": True}, cleared)

    return _act(request, request.reason, context, plan)


def expiry(request: views.ExpiryRequest, context: RequestContext) -> Reply:
    """Set the card's expiry (a time in the past expires it now) or remove it (null). A
    deactivated card is refused (``card_deactivated``); the same expiry again: unchanged."""
    expires_at = request.expires_at

    def plan(card: Card, _now: Instant, _actor: str) -> _Change | None:
        if card.state is CardState.DEACTIVATED:
            raise CardDeactivated()
        if card.expires_at == expires_at:
            return None
        update: dict[str, Any] = (
            {"clear_expiry": True} if expires_at is None else {"expires_at": expires_at}
        )
        return _Change("expiry_set", update, card.with_(expires_at=expires_at))

    return _act(request, request.reason, context, plan)


# Adjust --------------------------------------------------------------------------------------


def adjust(request: views.AdjustRequest, context: RequestContext) -> Reply:
    """Correct an active card's spendable balance by a signed amount in its currency: one
    ``adjust`` entry with actor and reason. Idempotent by ``idempotency_key`` like the webhooks:
    the first answer (a 200 or a refusal decided against the card) is stored with the change and
    every retry with the key gets it.

    Refusals, in order: unknown card (404 ``card_not_found``), not active (``card_not_active``),
    another currency (``currency_mismatch``), spendable balance below 0 (``insufficient_funds``),
    the card's value (spendable + held) over the currency's maximum (``amount_out_of_range``).
    An amount that is itself over the maximum, or has too many decimals, is refused before any
    read (``amount_out_of_range`` / ``invalid_request``, not stored). A frozen card can be
    adjusted: the block stops NewStore's spending, not finance's corrections.
    """
    _actor(context)  # recorded in the entry (``operation.entry`` takes it from the context)
    settings = context.settings
    currency = request.amount.currency
    magnitude = money.to_minor(abs(request.amount.value), currency, settings)
    amount = magnitude if request.amount.value > 0 else -magnitude
    idempotency = Idempotency(context, ADJUST, request.idempotency_key, request)
    found = _lookup_of(request, context)
    if found is None:
        return with_retries(context, lambda: idempotency.fail(UnknownCard(), None))
    lookup_key = found

    def attempt() -> Reply:
        if (live := idempotency.live(context.repository.get_record(idempotency.pk))) is not None:
            return idempotency.replay(live)
        partition = context.repository.card_partition(lookup_key)
        if partition is None:
            return idempotency.fail(UnknownCard(), CardCheck(lookup_key, None))
        card = partition.card
        check = CardCheck(lookup_key, card.version)
        balance_after = card.balance + amount
        refusal: BusinessError | None = None
        if card.state is not CardState.ACTIVE:
            refusal = CardNotActive()
        elif card.currency != currency:
            refusal = CurrencyMismatch()
        elif balance_after < 0:
            refusal = InsufficientFunds()
        elif balance_after + card.held > money.max_minor(currency, settings):
            refusal = BalanceOutOfRange()
        if refusal is not None:
            logger.info("adjustment refused", error_code=refusal.error_code, card_last4=card.last4)
            return idempotency.fail(refusal, check)
        now = context.now()
        recorded = idempotency.entry(
            card,
            "adjust",
            currency=currency,
            balance_after=balance_after,
            reason=request.reason,
            at=now,
        )
        after = CardPartition(
            card.with_(balance=balance_after, version=card.version + 1),
            partition.customer_sealed,
            [*partition.entries, recorded],
        )
        answer = reply(
            200, views.AdjustResponse(card=card_view(after, context), entry=entry_view(recorded))
        )
        update = CardUpdate(lookup=lookup_key, expect_version=card.version, balance=balance_after)
        result = idempotency.commit(answer, Write(card=update, entries=[recorded]))
        if result is answer:
            logger.info(
                "operator action recorded",
                kind="adjust",
                amount_minor=amount,
                card_last4=card.last4,
            )
        return result

    return with_retries(context, attempt)


# Customers -------------------------------------------------------------------------------------


def _belongs_to(card: Card, customer_key: str) -> bool:
    """The card's customer index key is ``customer_key`` (keyed hashes: compared in constant
    time, like every key and PIN)."""
    return card.customer_key is not None and hmac.compare_digest(card.customer_key, customer_key)


def customers_cards(request: views.CustomerCardsRequest, context: RequestContext) -> Reply:
    """The cards issued or activated for a customer id, found through the customer index (a
    keyed hash of the id), oldest first. The index is eventually consistent: a card written a
    moment ago may be missing for a moment."""
    _actor(context)
    key = context.keys.customer_hash(request.customer_id)

    def attempt() -> list[views.Card]:
        found = []
        for lookup_key in context.repository.customer_cards(key):
            partition = context.repository.card_partition(lookup_key)
            # The index may lag behind an erasure: the card itself decides.
            if partition is not None and _belongs_to(partition.card, key):
                found.append(card_view(partition, context))
        return sorted(found, key=lambda card: (card.created_at, card.card_id))

    return reply(200, views.CustomerCardsResponse(cards=with_retries(context, attempt)))


def customers_erase(request: views.CustomerEraseRequest, context: RequestContext) -> Reply:
    """Erase a customer: from every card of theirs, remove the sealed customer and the index key,
    and record a ``customer_erased`` entry (actor, reason); balances and the ledger stay. One
    transaction per card; a re-run finds nothing left to erase (``erased_cards`` 0)."""
    _actor(context)
    key = context.keys.customer_hash(request.customer_id)
    lookups = with_retries(context, lambda: context.repository.customer_cards(key))
    erased = sum(1 for lookup_key in lookups if _erase_card(context, lookup_key, key, request))
    logger.info("customer erased", erased_cards=erased)
    return reply(200, views.CustomerEraseResponse(erased_cards=erased))


def _erase_card(
    context: RequestContext, lookup_key: str, key: str, request: views.CustomerEraseRequest
) -> bool:
    tried = False

    def attempt() -> bool:
        nonlocal tried
        card = context.repository.get_card(lookup_key)
        if card is None or not _belongs_to(card, key):
            # Erased meanwhile: by our own commit whose answer was lost (it counts), by another
            # erasure, or the index lags behind one.
            return tried and card is not None and card.customer_key is None
        change = _Change("customer_erased", {"erase_customer": True}, card.with_(customer_key=None))
        tried = True
        _record_change(
            context, CardPartition(card, None, []), change, request.reason, customer_sealed=None
        )
        return True

    return with_retries(context, attempt)
