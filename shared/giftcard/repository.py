"""All DynamoDB access: the one module that knows items, keys and expressions.

The domain calls this interface and tests fake or count it. Every mutation is one
``TransactWriteItems``: the idempotency record, the card (and the financial instrument, for
redemption) and immutable ledger entries commit together or not at all. Conditions do the
checking; a failed condition comes back with the stored item (``ALL_OLD``) so the caller can
decide without another read.
"""

from __future__ import annotations

import contextlib
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from giftcard import table
from giftcard.cards import Card, CardState, PinCharge

CARD_SK = "CARD"
RECORD_SK = "IDEM"
ENTRY_PREFIX = "ENTRY#"
INSTRUMENT_PREFIX = "INSTR#"
ISSUANCE_PREFIX = "ISSUANCE#"
ISSUANCE_SK = "ISSUANCE"
#: Daily issuance counters are kept this long (then TTL cleanup may delete them).
ISSUANCE_RETENTION_SECONDS = 400 * 86400

#: Idempotency records outlive their expiry by this long before TTL cleanup may delete them
#: (expiry itself is decided in code; TTL deletion is only housekeeping and may lag for days).
TTL_SLACK_SECONDS = 86400

#: DynamoDB's limit of items in one TransactWriteItems.
TRANSACTION_ITEMS = 100

# Error codes that mean "the store is busy right now; nothing was committed; try again".
_BUSY_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
        "TransactionConflictException",
    }
)
_BUSY_REASONS = frozenset(
    {
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "InternalServerError",
    }
)


def card_pk(lookup: str) -> str:
    return f"CARD#{lookup}"


def record_pk(endpoint: str, key_hash: str) -> str:
    return f"IDEM#{endpoint}#{key_hash}"


def instrument_pk(instrument_id: str) -> str:
    return f"{INSTRUMENT_PREFIX}{instrument_id}"


# What the domain hands in and gets back ----------


@dataclass(frozen=True)
class StoredRecord:
    """A completed response under an idempotency key (body sealed): written with the effect it
    answers, read back to replay it."""

    pk: str
    status: int
    body_sealed: bytes
    params_hash: str
    created_at: int
    expires_at: int

    def live(self, now_epoch: int) -> bool:
        return self.expires_at >= now_epoch


@dataclass(frozen=True)
class LedgerEntry:
    """Immutable. ``amount`` is the change of the card's value (spendable + held);
    ``balance_*`` is the spendable balance, ``held_*`` the reserved amount."""

    lookup: str
    kind: str
    amount: int
    currency: str
    balance_before: int
    balance_after: int
    held_before: int
    held_after: int
    created_at: str  # ISO 8601, microseconds
    record_pk: str
    request_id: str = ""
    key_id: str = ""
    store_id: str = ""
    instrument_id: str = ""
    entry_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def sk(self) -> str:
        return f"{ENTRY_PREFIX}{self.created_at}#{self.entry_id}"


@dataclass(frozen=True)
class CardCreate:
    """A new card; fails if the number (its lookup) exists."""

    card: Card
    customer_sealed: bytes | None = None


@dataclass(frozen=True)
class CardUpdate:
    """Change a card whose state is as read (``expect_version``) or, when the caller did not read
    it, whose state is one of ``expect_states`` (``allow_missing``: create it if absent)."""

    lookup: str
    set: dict[str, Any]
    expect_version: int | None = None
    expect_states: tuple[CardState, ...] = ()
    allow_missing: bool = False
    set_if_missing: dict[str, Any] = field(default_factory=dict)
    customer_sealed: bytes | None = None
    #: A right PIN was proven: reset the guess window, the lock and the lockout streak.
    reset_pin: bool = False


@dataclass(frozen=True)
class CardCheck:
    """Only assert the card is still as read (``None``: still absent)."""

    lookup: str
    expect_version: int | None


@dataclass(frozen=True)
class Instrument:
    """A financial instrument: money reserved on a card by NewStore's payment flow."""

    instrument_id: str
    lookup: str
    currency: str
    authorized: int
    captured: int
    refunded: int
    released: int
    version: int
    created_at: str
    expires_at: int  # epoch seconds
    account_id: str = ""
    last4: str = ""

    @property
    def reserved(self) -> int:
        """Still reserved: capturable."""
        return self.authorized - self.captured - self.released

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded


@dataclass(frozen=True)
class InstrumentWrite:
    """Create (``expect_version`` None) or update an instrument as read."""

    instrument: Instrument
    expect_version: int | None


@dataclass(frozen=True)
class IssuanceCharge:
    """Value loaded onto cards of one currency on one UTC day, counted against a ceiling: the
    day's total may not pass ``limit`` (minor units) with this ``amount`` added."""

    currency: str
    day: str  # YYYY-MM-DD, UTC
    amount: int
    limit: int
    at: int  # epoch seconds

    @property
    def pk(self) -> str:
        return f"{ISSUANCE_PREFIX}{self.currency}#{self.day}"


@dataclass(frozen=True)
class Write:
    """Everything one request commits, in one transaction."""

    record: StoredRecord | None = None
    card: CardCreate | CardUpdate | CardCheck | None = None
    instrument: InstrumentWrite | None = None
    entries: Sequence[LedgerEntry] = ()
    issuance: IssuanceCharge | None = None


# What can go wrong ----------


class StorageBusy(Exception):
    """Throttled, conflicting or unreachable: nothing was committed as far as we know; retry."""


class StorageUnreachable(StorageBusy):
    """No answer (timeout, dropped connection): the write may have been committed."""


class RecordExists(Exception):
    def __init__(self, record: StoredRecord) -> None:
        super().__init__("idempotency record exists")
        self.record = record


class CardConflict(Exception):
    """The card is not as expected; ``card`` is what is stored now (None: absent)."""

    def __init__(self, card: Card | None) -> None:
        super().__init__("card condition failed")
        self.card = card


class IssuanceExceeded(Exception):
    """The day's issuance counter would pass its limit; ``issued`` is the day's total so far."""

    def __init__(self, issued: int) -> None:
        super().__init__("issuance limit")
        self.issued = issued


class InstrumentConflict(Exception):
    def __init__(self, instrument: Instrument | None) -> None:
        super().__init__("instrument condition failed")
        self.instrument = instrument


# Item <-> record conversion ----------------------------------------------------------------------

_CARD_FIELDS = (
    "state",
    "last4",
    "currency",
    "balance",
    "held",
    "version",
    "pin_hash",
    "pin_failures",
    "pin_locked_until",
    "pin_lockouts",
    "pin_hard_locked",
    "pin_charge",
    "created_at",
    "activated_at",
    "deactivated_at",
    "expires_at",
    "source",
)
_INT_FIELDS = frozenset(
    {"balance", "held", "version", "pin_failures", "pin_locked_until", "pin_lockouts"}
)
#: The PIN fields a right PIN resets (window, lock, lockout streak).
PIN_RESET: dict[str, Any] = {
    "pin_failures": 0,
    "pin_locked_until": 0,
    "pin_lockouts": 0,
    "pin_hard_locked": False,
}


def card_item(card: Card, customer_sealed: bytes | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"PK": card_pk(card.lookup), "SK": CARD_SK, "type": "card"}
    for name in _CARD_FIELDS:
        value = getattr(card, name)
        if value is not None and value != "":
            item[name] = str(value) if name == "state" else value
    if customer_sealed:
        item["customer"] = customer_sealed
    return item


def card_from_item(item: dict[str, Any]) -> Card:
    values: dict[str, Any] = {"lookup": item["PK"].removeprefix("CARD#")}
    for name in _CARD_FIELDS:
        if name in item:
            values[name] = int(item[name]) if name in _INT_FIELDS else item[name]
    values["state"] = CardState(values["state"])
    return Card(**values)


def entry_item(entry: LedgerEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": card_pk(entry.lookup),
        "SK": entry.sk,
        "type": "entry",
        "kind": entry.kind,
        "amount": entry.amount,
        "currency": entry.currency,
        "balance_before": entry.balance_before,
        "balance_after": entry.balance_after,
        "held_before": entry.held_before,
        "held_after": entry.held_after,
        "created_at": entry.created_at,
        "record": entry.record_pk,
    }
    for name in ("request_id", "key_id", "store_id", "instrument_id"):
        value = getattr(entry, name)
        if value:
            item[name] = value
    return item


def entry_from_item(item: dict[str, Any]) -> LedgerEntry:
    created_at, _, entry_id = item["SK"].removeprefix(ENTRY_PREFIX).rpartition("#")
    return LedgerEntry(
        lookup=item["PK"].removeprefix("CARD#"),
        kind=item["kind"],
        amount=int(item["amount"]),
        currency=item["currency"],
        balance_before=int(item["balance_before"]),
        balance_after=int(item["balance_after"]),
        held_before=int(item["held_before"]),
        held_after=int(item["held_after"]),
        created_at=created_at,
        record_pk=item.get("record", ""),
        request_id=item.get("request_id", ""),
        key_id=item.get("key_id", ""),
        store_id=item.get("store_id", ""),
        instrument_id=item.get("instrument_id", ""),
        entry_id=entry_id,
    )


def record_item(record: StoredRecord) -> dict[str, Any]:
    return {
        "PK": record.pk,
        "SK": RECORD_SK,
        "type": "record",
        "status": record.status,
        "body": record.body_sealed,
        "params": record.params_hash,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        table.TTL_ATTRIBUTE: record.expires_at + TTL_SLACK_SECONDS,
    }


def record_from_item(item: dict[str, Any]) -> StoredRecord:
    body = item["body"]
    return StoredRecord(
        pk=item["PK"],
        status=int(item["status"]),
        body_sealed=bytes(body.value if hasattr(body, "value") else body),
        params_hash=item["params"],
        created_at=int(item["created_at"]),
        expires_at=int(item["expires_at"]),
    )


_INSTRUMENT_INT_FIELDS = ("authorized", "captured", "refunded", "released", "version", "expires_at")


def instrument_item(instrument: Instrument, open_shards: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": instrument_pk(instrument.instrument_id),
        "SK": "INSTRUMENT",
        "type": "instrument",
        "card": instrument.lookup,
        "currency": instrument.currency,
        "created_at": instrument.created_at,
        "account_id": instrument.account_id,
        "last4": instrument.last4,
    }
    for name in _INSTRUMENT_INT_FIELDS:
        item[name] = getattr(instrument, name)
    if instrument.reserved > 0:
        # Sparse index entry: only instruments still holding money are found by the expiry job.
        shard = zlib.crc32(instrument.instrument_id.encode()) % open_shards
        item[table.OPEN_RESERVATIONS_PK] = f"OPEN#{shard}"
        item[table.OPEN_RESERVATIONS_SK] = (
            f"{instrument.expires_at:012d}#{instrument.instrument_id}"
        )
    return item


def instrument_from_item(item: dict[str, Any]) -> Instrument:
    values = {name: int(item[name]) for name in _INSTRUMENT_INT_FIELDS}
    return Instrument(
        instrument_id=item["PK"].removeprefix(INSTRUMENT_PREFIX),
        lookup=item["card"],
        currency=item["currency"],
        created_at=item["created_at"],
        account_id=item.get("account_id", ""),
        last4=item.get("last4", ""),
        **values,
    )


# The repository ----------


class Repository:
    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    @property
    def client(self) -> Any:
        if self._client is None:
            from giftcard.aws import client

            self._client = client("dynamodb")
        return self._client

    # conversion helpers

    def _dump(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: self._serializer.serialize(value) for name, value in item.items()}

    def _load(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: self._deserializer.deserialize(value) for name, value in item.items()}

    def _values(self, values: dict[str, Any]) -> dict[str, Any]:
        return {name: self._serializer.serialize(value) for name, value in values.items()}

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _BUSY_CODES:
                raise StorageBusy(operation) from exc
            raise
        except BotoCoreError as exc:
            # Timeouts and dropped connections: the caller's retry is safe, because a repeated
            # transaction meets its own idempotency record and replays instead of re-executing.
            raise StorageUnreachable(operation) from exc

    # reads --------------------------------------------------------------------------------------

    def get_card(self, lookup: str) -> Card | None:
        response = self._call(
            "get_item",
            TableName=self.table_name,
            Key=self._dump({"PK": card_pk(lookup), "SK": CARD_SK}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return card_from_item(self._load(item)) if item else None

    def get_record(self, pk: str) -> StoredRecord | None:
        response = self._call(
            "get_item",
            TableName=self.table_name,
            Key=self._dump({"PK": pk, "SK": RECORD_SK}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return record_from_item(self._load(item)) if item else None

    def get_many(
        self, card_lookup: str | None, record: str | None, instrument_id: str | None = None
    ) -> tuple[Card | None, StoredRecord | None, Instrument | None]:
        """Card, idempotency record and instrument in one strongly consistent ``BatchGetItem``."""
        keys = []
        if card_lookup is not None:
            keys.append({"PK": card_pk(card_lookup), "SK": CARD_SK})
        if record is not None:
            keys.append({"PK": record, "SK": RECORD_SK})
        if instrument_id is not None:
            keys.append({"PK": instrument_pk(instrument_id), "SK": "INSTRUMENT"})
        request = {
            self.table_name: {"Keys": [self._dump(key) for key in keys], "ConsistentRead": True}
        }
        found: list[dict[str, Any]] = []
        for _ in range(5):
            response = self._call("batch_get_item", RequestItems=request)
            found.extend(
                self._load(item) for item in response.get("Responses", {}).get(self.table_name, [])
            )
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise StorageBusy("batch_get_item")
        card = stored = instrument = None
        for item in found:
            kind = item.get("type")
            if kind == "card":
                card = card_from_item(item)
            elif kind == "record":
                stored = record_from_item(item)
            elif kind == "instrument":
                instrument = instrument_from_item(item)
        return card, stored, instrument

    def ledger(self, lookup: str) -> list[LedgerEntry]:
        """A card's ledger, oldest first (one Query: the card and its entries share a partition)."""
        return [
            entry_from_item(item) for item in self._query_partition(card_pk(lookup), ENTRY_PREFIX)
        ]

    def _query_partition(self, pk: str, sk_prefix: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": self._values({":pk": pk, ":prefix": sk_prefix}),
            "ConsistentRead": True,
        }
        while True:
            response = self._call("query", **kwargs)
            for item in response.get("Items", []):
                yield self._load(item)
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def expired_instrument_ids(self, now_epoch: int, shards: int) -> Iterator[str]:
        """Ids of instruments still holding money whose reservation expired (sparse index)."""
        for shard in range(shards):
            kwargs: dict[str, Any] = {
                "TableName": self.table_name,
                "IndexName": table.OPEN_RESERVATIONS_INDEX,
                "KeyConditionExpression": "#pk = :pk AND #sk < :until",
                "ExpressionAttributeNames": {
                    "#pk": table.OPEN_RESERVATIONS_PK,
                    "#sk": table.OPEN_RESERVATIONS_SK,
                },
                "ExpressionAttributeValues": self._values(
                    {":pk": f"OPEN#{shard}", ":until": f"{now_epoch:012d}#"}
                ),
            }
            while True:
                response = self._call("query", **kwargs)
                for item in response.get("Items", []):
                    yield str(self._load(item)["PK"]).removeprefix(INSTRUMENT_PREFIX)
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # small conditional writes ---------------------------------------------------------------------

    def charge_pin_guess(
        self, lookup: str, charge: PinCharge, token: str, now_epoch: int, max_failures: int
    ) -> Card:
        """Charge one PIN guess on the card (before its PIN is compared) and return the card as
        charged. One conditional ``UpdateItem``; the condition is what makes a burst of guesses
        count one at a time.

        Raises ``CardConflict`` with the stored card (None: no such card) when the charge does not
        apply: the card has no PIN, is locked, or moved on since it was read. A card whose last
        charge carries ``token`` is this request's own charge, landed before a lost answer.
        """
        names = {"#failures": "pin_failures", "#lock": "pin_locked_until", "#charge": "pin_charge"}
        values: dict[str, Any] = {":token": token}
        own = "(attribute_not_exists(#charge) OR #charge <> :token)"
        if charge.expect is None:
            names["#hard"] = "pin_hard_locked"
            values.update({":one": 1, ":zero": 0, ":last": max_failures - 1, ":now": now_epoch})
            values[":no"] = False
            update = "SET #failures = if_not_exists(#failures, :zero) + :one, #charge = :token"
            condition = (
                "attribute_exists(pin_hash)"
                " AND (attribute_not_exists(#failures) OR #failures < :last)"
                " AND (attribute_not_exists(#lock) OR #lock <= :now)"
                " AND (attribute_not_exists(#hard) OR #hard = :no)"
                f" AND {own}"
            )
        else:
            names.update({"#lockouts": "pin_lockouts", "#hard": "pin_hard_locked"})
            values.update(
                {
                    ":failures": charge.failures,
                    ":lock": charge.locked_until,
                    ":lockouts": charge.lockouts,
                    ":hard": charge.hard_locked,
                    ":seen_failures": charge.expect[0],
                    ":seen_lock": charge.expect[1],
                }
            )
            update = (
                "SET #failures = :failures, #lock = :lock, #lockouts = :lockouts,"
                " #hard = :hard, #charge = :token"
            )
            condition = (
                "attribute_exists(pin_hash) AND #failures = :seen_failures"
                f" AND #lock = :seen_lock AND {own}"
            )
        try:
            response = self._call(
                "update_item",
                TableName=self.table_name,
                Key=self._dump({"PK": card_pk(lookup), "SK": CARD_SK}),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=self._values(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            item = exc.response.get("Item")
            raise CardConflict(card_from_item(self._load(item)) if item else None) from exc
        return card_from_item(self._load(response["Attributes"]))

    def settle_pin(self, lookup: str) -> None:
        """After a right PIN: reset the window, the lock and the lockout streak (also of guesses
        charged after ours: the contract's "a correct PIN resets the counter")."""
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self._settle_pin(lookup)

    def confirm_pin_lock(self, lookup: str, token: str) -> None:
        """The window's last guess was wrong: its lock stands. Drops the charge's mark, which
        tells other requests that nothing will lift this lock (they stop waiting for it)."""
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self._call(
                "update_item",
                TableName=self.table_name,
                Key=self._dump({"PK": card_pk(lookup), "SK": CARD_SK}),
                UpdateExpression="REMOVE pin_charge",
                ConditionExpression="pin_charge = :token",
                ExpressionAttributeValues=self._values({":token": token}),
            )

    def _settle_pin(self, lookup: str) -> None:
        self._call(
            "update_item",
            TableName=self.table_name,
            Key=self._dump({"PK": card_pk(lookup), "SK": CARD_SK}),
            UpdateExpression="SET "
            + ", ".join(f"{name} = :{name}" for name in PIN_RESET)
            + " REMOVE pin_charge",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues=self._values(
                {f":{name}": value for name, value in PIN_RESET.items()}
            ),
        )

    def create_card(self, card: Card) -> bool:
        """Create a card unless its number exists (printed stock import). True if created."""
        try:
            self._call(
                "put_item",
                TableName=self.table_name,
                Item=self._dump(card_item(card)),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def create_cards(self, cards: Sequence[Card], attempts: int = 5) -> list[bool]:
        """Create each card unless its number exists (printed stock, many at once): True where
        created. One ``TransactWriteItems`` of conditional Puts per 100 cards, so an existing
        card is never overwritten, whatever runs at the same time; a cancelled batch names the
        existing cards in its reasons, and the others are written again without them."""
        created = [False] * len(cards)
        pending = list(range(len(cards)))
        busy = 0
        while pending:
            batch = pending[:TRANSACTION_ITEMS]
            items = [
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": self._dump(card_item(cards[index])),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
                for index in batch
            ]
            try:
                self._call("transact_write_items", TransactItems=items)
            except self.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
                existing = {
                    index
                    for index, reason in zip(batch, reasons, strict=False)
                    if reason.get("Code") == "ConditionalCheckFailed"
                }
                if not existing:  # conflict or throttling: nothing was written, try again
                    busy += 1
                    if busy >= attempts:
                        raise StorageBusy("transact_write_items") from exc
                pending = [index for index in pending if index not in existing]
                continue
            for index in batch:
                created[index] = True
            pending = pending[len(batch) :]
        return created

    # the transaction ----------

    def commit(
        self, write: Write, now_epoch: int, open_shards: int = table.OPEN_RESERVATIONS_SHARDS
    ) -> None:
        """Commit ``write`` as one ``TransactWriteItems``.

        Raises ``RecordExists`` (the key was used: replay it), ``CardConflict`` /
        ``InstrumentConflict`` (state moved on: decide again) or ``StorageBusy`` (retry).
        """
        items: list[dict[str, Any]] = []
        roles: list[str] = []
        if write.record is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": self._dump(record_item(write.record)),
                        "ConditionExpression": "attribute_not_exists(PK) OR expires_at < :now",
                        "ExpressionAttributeValues": self._values({":now": now_epoch}),
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
            roles.append("record")
        if write.card is not None:
            items.append(self._card_operation(write.card))
            roles.append("card")
        if write.instrument is not None:
            items.append(self._instrument_operation(write.instrument, open_shards))
            roles.append("instrument")
        if write.issuance is not None:
            items.append(self._issuance_operation(write.issuance))
            roles.append("issuance")
        for entry in write.entries:
            items.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": self._dump(entry_item(entry)),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
            roles.append("entry")
        try:
            self._call("transact_write_items", TransactItems=items)
        except self.client.exceptions.TransactionCanceledException as exc:
            self._raise_cancellation(exc, roles)

    def _raise_cancellation(self, exc: Any, roles: list[str]) -> None:
        reasons = exc.response.get("CancellationReasons") or []
        failed: dict[str, dict[str, Any] | None] = {}
        busy = False
        for role, reason in zip(roles, reasons, strict=False):
            code = reason.get("Code")
            if code == "ConditionalCheckFailed":
                item = reason.get("Item")
                failed[role] = self._load(item) if item else None
            elif code in _BUSY_REASONS:
                busy = True
        if "record" in failed:
            item = failed["record"]
            if item is None:  # the record vanished in between: decide again
                raise StorageBusy("record") from exc
            raise RecordExists(record_from_item(item)) from exc
        if "card" in failed:
            item = failed["card"]
            raise CardConflict(card_from_item(item) if item else None) from exc
        if "instrument" in failed:
            item = failed["instrument"]
            raise InstrumentConflict(instrument_from_item(item) if item else None) from exc
        if "issuance" in failed:
            item = failed["issuance"]
            raise IssuanceExceeded(int(item["issued"]) if item else 0) from exc
        if busy or "entry" in failed:
            raise StorageBusy("transact_write_items") from exc
        raise exc

    def _card_operation(self, change: CardCreate | CardUpdate | CardCheck) -> dict[str, Any]:
        key = {
            "PK": card_pk(
                change.lookup if not isinstance(change, CardCreate) else change.card.lookup
            ),
            "SK": CARD_SK,
        }
        if isinstance(change, CardCreate):
            return {
                "Put": {
                    "TableName": self.table_name,
                    "Item": self._dump(card_item(change.card, change.customer_sealed)),
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        condition = self._card_condition(change, names, values)
        if isinstance(change, CardCheck):
            operation: dict[str, Any] = {
                "TableName": self.table_name,
                "Key": self._dump(key),
                "ConditionExpression": condition,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            if names:
                operation["ExpressionAttributeNames"] = names
            if values:
                operation["ExpressionAttributeValues"] = self._values(values)
            return {"ConditionCheck": operation}
        assignments = []
        fields = dict(change.set)
        if change.customer_sealed:
            fields["customer"] = change.customer_sealed
        for index, (name, value) in enumerate(fields.items()):
            names[f"#f{index}"] = name
            values[f":f{index}"] = str(value) if isinstance(value, CardState) else value
            assignments.append(f"#f{index} = :f{index}")
        for index, (name, value) in enumerate(change.set_if_missing.items()):
            names[f"#m{index}"] = name
            values[f":m{index}"] = value
            assignments.append(f"#m{index} = if_not_exists(#m{index}, :m{index})")
        if change.reset_pin:
            for index, (name, value) in enumerate(PIN_RESET.items()):
                names[f"#p{index}"] = name
                values[f":p{index}"] = value
                assignments.append(f"#p{index} = :p{index}")
        names["#version"] = "version"
        values[":one"] = 1
        values[":zero"] = 0
        assignments.append("#version = if_not_exists(#version, :zero) + :one")
        update = "SET " + ", ".join(assignments)
        if change.reset_pin:
            names["#charge"] = "pin_charge"
            update += " REMOVE #charge"
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": self._dump(key),
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": self._values(values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    @staticmethod
    def _card_condition(
        change: CardUpdate | CardCheck, names: dict[str, str], values: dict[str, Any]
    ) -> str:
        if isinstance(change, CardCheck) or change.expect_version is not None:
            if change.expect_version is None:
                return "attribute_not_exists(PK)"
            names["#version"] = "version"
            values[":expected_version"] = change.expect_version
            return "#version = :expected_version"
        names["#state"] = "state"
        states = []
        for index, state in enumerate(change.expect_states):
            values[f":state{index}"] = str(state)
            states.append(f"#state = :state{index}")
        matches = "(" + " OR ".join(states) + ")" if states else "attribute_exists(PK)"
        if change.allow_missing:
            return f"attribute_not_exists(PK) OR {matches}"
        return f"attribute_exists(PK) AND {matches}"

    def _issuance_operation(self, charge: IssuanceCharge) -> dict[str, Any]:
        """Add the amount to the day's counter only while the total stays within the limit
        (atomic with the load, so concurrent loads can never pass it together)."""
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": self._dump({"PK": charge.pk, "SK": ISSUANCE_SK}),
                "UpdateExpression": (
                    "SET #type = :type, updated_at = :at, #ttl = :ttl ADD issued :amount"
                ),
                "ConditionExpression": "attribute_not_exists(issued) OR issued <= :room",
                "ExpressionAttributeNames": {"#type": "type", "#ttl": table.TTL_ATTRIBUTE},
                "ExpressionAttributeValues": self._values(
                    {
                        ":type": "issuance",
                        ":at": charge.at,
                        ":ttl": charge.at + ISSUANCE_RETENTION_SECONDS,
                        ":amount": charge.amount,
                        ":room": charge.limit - charge.amount,
                    }
                ),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def issued_on(self, currency: str, day: str) -> int:
        """The value loaded on ``day`` (UTC, YYYY-MM-DD) in ``currency``, minor units."""
        response = self._call(
            "get_item",
            TableName=self.table_name,
            Key=self._dump({"PK": f"{ISSUANCE_PREFIX}{currency}#{day}", "SK": ISSUANCE_SK}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return int(self._load(item)["issued"]) if item else 0

    def _instrument_operation(self, write: InstrumentWrite, open_shards: int) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": self._dump(instrument_item(write.instrument, open_shards)),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if write.expect_version is None:
            operation["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            operation["ConditionExpression"] = "version = :expected_version"
            operation["ExpressionAttributeValues"] = self._values(
                {":expected_version": write.expect_version}
            )
        return {"Put": operation}

    # operator / test helpers --------------------------------------------------------------------

    def scan_all(self) -> Iterator[dict[str, Any]]:
        """Every item (tests and audits only; never on a request path)."""
        kwargs: dict[str, Any] = {"TableName": self.table_name}
        while True:
            response = self._call("scan", **kwargs)
            for item in response.get("Items", []):
                yield self._load(item)
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
