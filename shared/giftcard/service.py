"""The gift card webhooks: balance, issue, activate, deactivate.

Each function takes a validated request model and a ``Call`` (settings, repository, keys, clock,
request identity) and returns the ``Reply``. No API Gateway event and no boto3 in here: storage
is the repository's interface.

Idempotency: every mutation commits its response together with its effect (one transaction).
A retry with the same key meets the stored record and replays it byte for byte, whatever its
parameters. Business errors decided against stored state are stored too (the transaction
asserts the card is still as read), so a retry cannot get a different answer.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from pydantic import BaseModel

from giftcard import money
from giftcard.cards import (
    OPTIMISTIC_CHARGE,
    Card,
    CardState,
    generate_number,
    generate_pin,
    last4,
    lock_seconds,
    luhn_valid,
    normalize_number,
    plan_pin_charge,
)
from giftcard.clock import Clock, Instant
from giftcard.errors import (
    BusinessError,
    CardAlreadyActive,
    CardDeactivated,
    CardExpired,
    CardNotActive,
    CardNotFound,
    InvalidCard,
    IssuanceLimitReached,
    Reply,
    RetryError,
    reply_for,
)
from giftcard.items import card_pk, record_pk
from giftcard.jsonio import dumps
from giftcard.keys import CLIENT, INTERNAL, KeyMaterial, idempotency_key_hash
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
    IDEMPOTENCY_KEY_REUSED,
    ISSUANCE_CEILING_NEAR,
    ISSUANCE_LIMIT_REACHED,
    PIN_FAILURES,
    PIN_HARD_LOCKS,
    PIN_LOCKOUTS,
    REPLAYS,
    RETRIES_EXHAUSTED,
    logger,
    metrics,
)
from giftcard.repository import Repository
from giftcard.settings import Settings
from giftcard.writes import (
    CardCheck,
    CardConflict,
    CardCreate,
    CardRegistration,
    CardUpdate,
    InstrumentConflict,
    IssuanceCharge,
    IssuanceExceeded,
    LedgerEntry,
    RecordExists,
    StorageBusy,
    StoredRecord,
    Write,
)

T = TypeVar("T")

_BACKOFF_BASE_SECONDS = 0.005
_BACKOFF_CAP_SECONDS = 0.15
_ISSUE_NUMBER_ATTEMPTS = 5
#: A request that meets a lock written a moment ago waits this often, this long, for the
#: comparison that wrote it (a right PIN lifts it) before it refuses.
_PIN_LOCK_WAITS = 6
_PIN_LOCK_WAIT_SECONDS = 0.05
_PIN_LOCK_FRESH_SECONDS = 2


@dataclass
class Call:
    """Everything one request needs, built by the handler (tests build their own)."""

    settings: Settings
    repository: Repository
    keys: KeyMaterial
    clock: Clock = field(default_factory=Clock)
    request_id: str = ""
    key_id: str = ""
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


class _Again(Exception):
    """State moved between read and write: decide again."""


def with_retries(call: Call, attempt: Callable[[], T]) -> T:
    """Run ``attempt`` until it decides, at most ``storage_max_attempts`` times.

    Throttling, transaction conflicts and lost races back off with full jitter; each attempt
    re-reads what it depends on. Nothing is half-done: an attempt commits all or nothing. A
    right PIN charged on the way is reset when the request ends, unless its write did it.
    """
    try:
        return _attempts(call, attempt)
    finally:
        _settle_right_pins(call)


def _attempts(call: Call, attempt: Callable[[], T]) -> T:
    attempts = call.settings.storage_max_attempts
    for index in range(attempts):
        try:
            return attempt()
        except (StorageBusy, CardConflict, InstrumentConflict, _Again) as exc:
            if index + 1 == attempts:
                logger.warning(
                    "storage retries exhausted", reason=type(exc).__name__, attempts=attempts
                )
                metrics.add_metric(name=RETRIES_EXHAUSTED, unit="Count", value=1)
                break
            call.sleep(
                random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**index))
            )
    raise RetryError()


def _settle_right_pins(call: Call) -> None:
    """Reset the guess a right PIN was charged when nothing else did: a balance, a refusal after
    the PIN, a replay, or a request that gives up (503: no effect; best effort, storage is
    struggling, and a retry with the key finds its charge)."""
    while call.pin_unsettled:
        lookup = call.pin_unsettled.pop()
        with contextlib.suppress(StorageBusy):
            call.repository.settle_pin(lookup)


def reply(status: int, model: BaseModel) -> Reply:
    return Reply(status, dumps(model.model_dump()))


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
        call: Call,
        endpoint: str,
        key: str | None,
        request: BaseModel,
        *,
        internal: str | None = None,
    ) -> None:
        self.call = call
        self.endpoint = endpoint
        self.keyed = key is not None
        if key is not None:
            key_hash = idempotency_key_hash(endpoint, key, origin=CLIENT)
        else:
            own = internal if internal is not None else call.request_id or str(id(request))
            key_hash = idempotency_key_hash(endpoint, own, origin=INTERNAL)
        self.pk = record_pk(endpoint, key_hash)
        canonical = json.dumps(
            request.model_dump(mode="json", exclude={"idempotence_key", "idempotency_key"}),
            sort_keys=True,
            separators=(",", ":"),
        )
        self.params_hash = call.keys.params_hash(f"{endpoint}\n{canonical}")

    def pin_token(self) -> str:
        """Marks this request's PIN charge on the card. Copies of one keyed request (same key,
        same parameters, PIN included) share it, so a burst of retries is charged one guess;
        another PIN is other parameters, so it is charged on its own."""
        if not self.keyed:
            return self.call.pin_token
        return self.call.keys.params_hash(f"pin-charge\n{self.pk}\n{self.params_hash}")[:16]

    def record(self, answer: Reply) -> StoredRecord:
        now = self.call.now().seconds
        retention = self.call.settings.idempotency_retention_days * 86400
        return StoredRecord(
            pk=self.pk,
            status=answer.status,
            body_sealed=self.call.keys.seal(answer.body, self.pk),
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
        return Reply(stored.status, self.call.keys.unseal(stored.body_sealed, self.pk))

    def live(self, stored: StoredRecord | None) -> StoredRecord | None:
        return stored if stored is not None and stored.live(self.call.now().seconds) else None

    def commit(self, answer: Reply, write: Write) -> Reply:
        """Commit ``write`` with this record holding ``answer``; replay if the key was used."""
        try:
            self.call.repository.commit(
                replace(write, record=self.record(answer)), self.call.now().seconds
            )
        except RecordExists as exc:
            return self.replay(exc.record)
        if isinstance(write.card, CardUpdate) and write.card.reset_pin:
            self.call.pin_unsettled.discard(write.card.lookup)
        return answer

    def fail(self, error: BusinessError, check: CardCheck | None) -> Reply:
        """A business error decided against stored state: stored (when keyed) atomically with a
        check that the card is still as read."""
        answer = reply_for(error)
        if not self.keyed:
            return answer
        return self.commit(answer, Write(card=check))


def entry(
    call: Call,
    card: Card,
    kind: str,
    *,
    record: str,
    currency: str,
    balance_after: int,
    held_after: int | None = None,
    store_id: str | None = None,
    instrument_id: str = "",
    at: Instant | None = None,
) -> LedgerEntry:
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
        created_at=(at or call.now()).iso_micro,
        record_pk=record,
        request_id=call.request_id,
        key_id=call.key_id,
        store_id=store_id or "",
        instrument_id=instrument_id,
    )


def _expiry(call: Call, now: Instant) -> str | None:
    days = call.settings.card_expiry_days
    return now.plus(days * 86400).iso if days else None


def _store_id(metadata: object) -> str | None:
    return getattr(metadata, "store_id", None)


def _seal_customer(call: Call, lookup: str, customer: Customer | None) -> bytes | None:
    if customer is None:
        return None
    return call.keys.seal(
        dumps(customer.model_dump(mode="json", exclude_none=True)), card_pk(lookup)
    )


# PIN check ----------


@dataclass(frozen=True)
class PinProof:
    """A request's PIN, proven: the card as stored once the guess was charged. ``charged``:
    a guess was charged, which the request's own write resets (``CardUpdate.reset_pin``); if it
    writes nothing that does, ``with_retries`` resets it when the request ends."""

    card: Card
    charged: bool


def prove_pin(
    call: Call, lookup: str, pin: str, read: Card | None = None, token: str | None = None
) -> PinProof:
    """The contract's PIN rule for a request that sends a PIN: the guess is charged first (a
    conditional write that refuses a locked card and returns the card), then compared.

    However many requests arrive at once, at most ``pin_max_failures`` comparisons per card are
    made per lock window: the charge is what is counted, and the window's last charge writes the
    lock with it. Raises ``InvalidCard`` for an unknown card, a locked card or a wrong PIN (one
    answer for all). A card without a PIN ignores the PIN (``charged`` False).

    ``token`` marks the charge (default: this request's own); a retry that finds its own mark
    uses that charge instead of charging a second guess.
    """
    settings = call.settings
    earlier = call.pin_checks.get(lookup)
    if earlier is False:
        raise InvalidCard()  # a retry of this request: its one wrong guess is already counted
    if earlier and read is not None:
        return PinProof(read, charged=True)
    token = token or call.pin_token
    charge = OPTIMISTIC_CHARGE
    waits = 0
    for _ in range(settings.storage_max_attempts):
        now = call.now().seconds
        try:
            card = call.repository.charge_pin_guess(
                lookup, charge, token, now, settings.pin_max_failures
            )
            break
        except CardConflict as conflict:
            stored = conflict.card
            if stored is None:
                raise InvalidCard() from None
            if not stored.has_pin:
                return PinProof(stored, charged=False)
            if hmac.compare_digest(stored.pin_charge, token):
                card = stored  # our own charge, whose answer was lost (or a copy's)
                break
            planned = plan_pin_charge(
                stored, now, settings.pin_max_failures, settings.pin_lockout_seconds
            )
            if planned is not None:
                charge = planned
                continue
            if waits < _PIN_LOCK_WAITS and _lock_is_fresh(stored, now, settings):
                # The lock was written a moment ago by the window's last charge, whose request
                # is still comparing: a right PIN there lifts it. Wait for that, not longer.
                waits += 1
                call.sleep(random.uniform(_PIN_LOCK_WAIT_SECONDS / 2, _PIN_LOCK_WAIT_SECONDS))
                charge = OPTIMISTIC_CHARGE
                continue
            logger.info("pin check refused: locked", card_last4=stored.last4)
            raise InvalidCard() from None
    else:
        raise RetryError()
    assert card.pin_hash is not None
    right = call.keys.pin_matches(card.pin_hash, lookup, pin)
    call.pin_checks[lookup] = right
    if right:
        call.pin_unsettled.add(lookup)
    if not right:
        metrics.add_metric(name=PIN_FAILURES, unit="Count", value=1)
        if card.pin_failures >= settings.pin_max_failures:  # this guess carried the lock
            call.repository.confirm_pin_lock(lookup, token)
            metrics.add_metric(name=PIN_LOCKOUTS, unit="Count", value=1)
            if card.pin_hard_locked:
                metrics.add_metric(name=PIN_HARD_LOCKS, unit="Count", value=1)
            logger.warning(
                "pin checks locked after repeated failures",
                card_last4=card.last4,
                lockouts_in_a_row=card.pin_lockouts,
                hard_locked=card.pin_hard_locked,
            )
        raise InvalidCard()
    return PinProof(card, charged=True)


def _lock_is_fresh(card: Card, now: int, settings: Settings) -> bool:
    """The lock was written a moment ago and its request has not confirmed it yet (a right PIN
    there may still lift it). A request that died before confirming holds others up for at most
    ``_PIN_LOCK_FRESH_SECONDS``."""
    if not card.pin_charge:
        return False  # confirmed (the last guess was wrong), or set by an operator
    written = card.pin_locked_until - lock_seconds(
        settings.pin_lockout_seconds, max(card.pin_lockouts - 1, 0)
    )
    return now - written <= _PIN_LOCK_FRESH_SECONDS


# Return balance ----------


def balance(request: BalanceRequest, call: Call) -> Reply:
    """Spendable balance. Checks in the contract's order: card, PIN (lockout first), state."""
    found = card_lookup_for(request.identifier.number, call.keys)
    if found is None:
        raise InvalidCard()
    _number, lookup = found

    def attempt() -> Reply:
        pin = request.identifier.pin
        if pin:
            proof = prove_pin(call, lookup, pin)
            card = proof.card
        else:
            found = call.repository.get_card(lookup)
            if found is None or found.has_pin:
                raise InvalidCard()  # unknown, or a PIN is required (a missing one is no guess)
            card = found
        if card.state is CardState.INACTIVE:
            raise CardNotActive()
        if card.state is CardState.DEACTIVATED:
            raise CardDeactivated()
        if card.expired(call.now().iso):
            raise CardExpired()
        assert card.currency is not None
        logger.info("balance answered", card_last4=card.last4, store_id=_store_id(request.metadata))
        return reply(
            200,
            BalanceResponse(
                value=money.to_major(card.balance, card.currency), currency=card.currency
            ),
        )

    return with_retries(call, attempt)


# Loading value (issue, activate): the daily ceiling per currency ----------


def commit_load(
    call: Call,
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
    ceiling, alert = money.issuance_ceiling_minor(currency, call.settings)
    now = call.now()
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


def issue(request: IssueRequest, call: Call) -> Reply:
    """A new card with a generated number and PIN, active and funded (or, with the
    ``issued cards need activation`` setting and ``original_operation = activation``,
    inactive and unfunded until a later activate)."""
    settings = call.settings
    currency = request.amount.currency
    amount = money.to_minor(request.amount.value, currency, settings)
    original_operation = request.metadata.original_operation if request.metadata else None
    unfunded = settings.issued_cards_need_activation and original_operation == "activation"
    idempotency = Idempotency(call, "issue", request.idempotence_key, request)
    store_id = _store_id(request.metadata)

    def attempt() -> Reply:
        for _ in range(_ISSUE_NUMBER_ATTEMPTS):
            now = call.now()
            number = generate_number(settings.card_number_prefix, settings.card_number_length)
            pin = generate_pin(settings.pin_length)
            lookup = call.keys.card_lookup(number)
            card = Card(
                lookup=lookup,
                state=CardState.INACTIVE if unfunded else CardState.ACTIVE,
                last4=last4(number),
                currency=None if unfunded else currency,
                balance=0 if unfunded else amount,
                version=1,
                pin_hash=call.keys.pin_hash(lookup, pin),
                created_at=now.iso,
                activated_at=None if unfunded else now.iso,
                expires_at=None if unfunded else _expiry(call, now),
                source="issued",
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
                    entry(
                        call,
                        empty,
                        "issue",
                        record=idempotency.pk,
                        currency=currency,
                        balance_after=amount,
                        store_id=store_id,
                        at=now,
                    )
                ]
            )
            write = Write(
                card=CardCreate(card, _seal_customer(call, lookup, request.customer)),
                entries=entries,
            )
            try:
                if unfunded:
                    result = idempotency.commit(answer, write)
                else:
                    result = commit_load(call, idempotency, answer, write, currency, amount)
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
        raise _Again()

    return with_retries(call, attempt)


# Activate ----------


def activate(request: ActivateRequest, call: Call) -> Reply:
    """Activate an inactive card (printed stock, or issued inactive) and load its amount.

    One transaction without a prior read: the card update is conditioned on the card being
    inactive (or absent, when unknown numbers may be registered); if that fails, the stored card
    comes back with the failure and decides the error.
    """
    settings = call.settings
    currency = request.amount.currency
    amount = money.to_minor(request.amount.value, currency, settings)
    idempotency = Idempotency(call, "activate", request.idempotence_key, request)
    found = card_lookup_for(request.card_number, call.keys)
    store_id = _store_id(request.metadata)
    if found is None:
        return with_retries(call, lambda: idempotency.fail(CardNotFound(), None))
    number, lookup = found
    answer = reply(200, ActivateResponse(identifier=ActivatedIdentifier(number=number)))

    def attempt() -> Reply:
        now = call.now()
        inactive = Card(lookup=lookup, state=CardState.INACTIVE, last4=last4(number))
        update = CardUpdate(
            lookup=lookup,
            expect_states=(CardState.INACTIVE,),
            allow_missing=settings.register_unknown_on_activation,
            registration=CardRegistration(last4=last4(number), created_at=now.iso),
            state=CardState.ACTIVE,
            currency=currency,
            balance=amount,
            held=0,
            activated_at=now.iso,
            expires_at=_expiry(call, now),
            customer_sealed=_seal_customer(call, lookup, request.customer),
        )
        activation = entry(
            call,
            inactive,
            "activate",
            record=idempotency.pk,
            currency=currency,
            balance_after=amount,
            store_id=store_id,
            at=now,
        )
        try:
            result = commit_load(
                call,
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
            elif stored.state is CardState.ACTIVE:
                error = CardAlreadyActive()
            elif stored.state is CardState.DEACTIVATED:
                error = CardDeactivated()
            else:
                raise _Again() from conflict
            logger.info("activation refused", card_last4=last4(number), error_code=error.error_code)
            return idempotency.fail(error, CardCheck(lookup, stored.version if stored else None))
        if result is answer:
            logger.info("card activated", card_last4=last4(number), store_id=store_id)
        return result

    return with_retries(call, attempt)


# Deactivate ----------


def deactivate(request: DeactivateRequest, call: Call) -> Reply:
    """Deactivate a card (terminal) and void its spendable balance in the ledger.

    Reads the card and the idempotency record in one call (the voided amount must be known for
    the ledger entry), then commits conditioned on the card's version. Reserved money stays
    capturable (redemption).
    """
    idempotency = Idempotency(call, "deactivate", request.idempotence_key, request)
    found = card_lookup_for(request.card_number, call.keys)
    if found is None:
        return with_retries(call, lambda: idempotency.fail(InvalidCard(), None))
    _number, lookup = found

    def attempt() -> Reply:
        card, stored, _ = call.repository.get_many(lookup, idempotency.pk)
        if (live := idempotency.live(stored)) is not None:
            return idempotency.replay(live)
        if card is None:
            return idempotency.fail(InvalidCard(), CardCheck(lookup, None))
        proof = None
        if request.pin and card.has_pin:
            try:
                proof = prove_pin(
                    call, lookup, request.pin, read=card, token=idempotency.pin_token()
                )
            except InvalidCard as refused:
                return idempotency.fail(refused, None)
            card = proof.card
        if card.state is CardState.DEACTIVATED:
            assert card.deactivated_at is not None
            answer = reply(200, DeactivateResponse(deactivated_at=card.deactivated_at))
            return _store_plain(idempotency, answer, card)
        now = call.now()
        answer = reply(200, DeactivateResponse(deactivated_at=now.iso))
        void = entry(
            call,
            card,
            "deactivate_void",
            record=idempotency.pk,
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

    return with_retries(call, attempt)


def _store_plain(idempotency: Idempotency, answer: Reply, card: Card) -> Reply:
    """Store an answer that changes nothing (deactivating a deactivated card), if keyed."""
    if not idempotency.keyed:
        return answer
    return idempotency.commit(answer, Write(card=CardCheck(card.lookup, card.version)))
