"""All DynamoDB access: the one module that talks to the table.

The domain calls this interface and tests fake or count it. Every mutation is one
``TransactWriteItems``: the idempotency record, the card (and the financial instrument, for
redemption) and immutable ledger entries commit together or not at all. Conditions do the
checking; a failed condition comes back with the stored item (``ALL_OLD``) so the caller can
decide without another read. Items are built and read by ``giftcard.items``; what is written
is described by ``giftcard.writes``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from giftcard import table
from giftcard.cards import Card, Instrument, PinCharge
from giftcard.expressions import pin_charge_update, transaction_items
from giftcard.items import (
    CARD_SK,
    ENTRY_PREFIX,
    INSTRUMENT_PREFIX,
    PIN_RESET,
    RECORD_SK,
    TRANSACTION_ITEMS,
    card_from_item,
    card_item,
    card_pk,
    entry_from_item,
    instrument_from_item,
    instrument_pk,
    record_from_item,
)
from giftcard.repository_reads import OperatorReads
from giftcard.writes import (
    CardConflict,
    InstrumentConflict,
    IssuanceExceeded,
    LedgerEntry,
    RecordExists,
    StorageBusy,
    StorageUnreachable,
    StoredRecord,
    Write,
)

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


# The repository ----------


class Repository(OperatorReads):
    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client
        from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer, TypeSerializer

        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()
        self._number = DYNAMODB_CONTEXT.create_decimal

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
        # Strings and numbers (nearly every attribute) without the deserializer's dispatch: the
        # audit loads every item of the table, and this was two thirds of its CPU per item.
        # Same values: numbers through the deserializer's own decimal context.
        loaded: dict[str, Any] = {}
        for name, value in item.items():
            if "S" in value:
                loaded[name] = value["S"]
            elif "N" in value:
                loaded[name] = self._number(value["N"])
            else:
                loaded[name] = self._deserializer.deserialize(value)
        return loaded

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

    # back office reads ----------------------------------------------------------------------------

    def _query_partition(self, pk: str, sk_prefix: str) -> Iterator[dict[str, Any]]:
        values = {":pk": pk, ":prefix": sk_prefix} if sk_prefix else {":pk": pk}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk"
            + (" AND begins_with(SK, :prefix)" if sk_prefix else ""),
            "ExpressionAttributeValues": self._values(values),
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
        update, condition, names, values = pin_charge_update(charge, token, now_epoch, max_failures)
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
                    busy += 1  # (consecutive, for this batch)
                    if busy >= attempts:
                        raise StorageBusy("transact_write_items") from exc
                pending = [index for index in pending if index not in existing]
                continue
            for index in batch:
                created[index] = True
            pending = pending[len(batch) :]
            busy = 0  # the budget is per batch: a long import may meet throttling more than once
        return created

    # the transaction ----------

    def commit(
        self, write: Write, now_epoch: int, open_shards: int = table.OPEN_RESERVATIONS_SHARDS
    ) -> None:
        """Commit ``write`` as one ``TransactWriteItems``.

        Raises ``RecordExists`` (the key was used: replay it), ``CardConflict`` /
        ``InstrumentConflict`` (state moved on: decide again) or ``StorageBusy`` (retry).
        """
        items, roles = transaction_items(write, now_epoch, open_shards, self.table_name, self._dump)
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
