"""The repository's reads for the back office and the audit: a card's whole partition, pages of
its ledger, the customer index, the audit's scan pages and the kept audits.

Part of the storage family (``giftcard.repository`` is the client and every write): ``Repository``
inherits these, so callers see one repository. Only item mapping from ``giftcard.items``; no
domain rule here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from giftcard import table
from giftcard.items import (
    AUDIT_PK,
    CARD_SK,
    ENTRY_PREFIX,
    audit_from_item,
    audit_item,
    card_from_item,
    card_pk,
    customer_sealed_of,
    entry_from_item,
)
from giftcard.writes import CardPartition, LedgerEntry, StoredAudit


class OperatorReads:
    """Reads beyond the webhooks' (``Repository`` provides the client and the item codecs)."""

    table_name: str

    if TYPE_CHECKING:

        def _call(self, operation: str, **kwargs: Any) -> Any: ...
        def _dump(self, item: dict[str, Any]) -> dict[str, Any]: ...
        def _load(self, item: dict[str, Any]) -> dict[str, Any]: ...
        def _values(self, values: dict[str, Any]) -> dict[str, Any]: ...
        def _query_partition(self, pk: str, sk_prefix: str) -> Iterator[dict[str, Any]]: ...

    def card_partition(self, lookup: str) -> CardPartition | None:
        """The card, its sealed customer and its whole ledger in one strongly consistent Query
        (the card and its entries share a partition); None when there is no such card."""
        card_item_found: dict[str, Any] | None = None
        entries: list[LedgerEntry] = []
        for item in self._query_partition(card_pk(lookup), ""):
            if item.get("SK") == CARD_SK:
                card_item_found = item
            elif str(item.get("SK", "")).startswith(ENTRY_PREFIX):
                entries.append(entry_from_item(item))
        if card_item_found is None:
            return None
        return CardPartition(
            card_from_item(card_item_found), customer_sealed_of(card_item_found), entries
        )

    def ledger_page(
        self, lookup: str, limit: int, before_sk: str | None = None
    ) -> tuple[list[LedgerEntry], bool]:
        """Up to ``limit`` of a card's entries, newest first, older than the entry ``before_sk``
        (None: from the newest), and whether older ones remain (one more is asked for)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": self._values(
                {":pk": card_pk(lookup), ":prefix": ENTRY_PREFIX}
            ),
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        if before_sk is not None:
            kwargs["ExclusiveStartKey"] = self._dump({"PK": card_pk(lookup), "SK": before_sk})
        found: list[LedgerEntry] = []
        while len(found) <= limit:
            kwargs["Limit"] = limit + 1 - len(found)
            response = self._call("query", **kwargs)
            found.extend(entry_from_item(self._load(item)) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found[:limit], len(found) > limit

    def customer_cards(self, customer_key: str) -> list[str]:
        """Lookups of the cards whose customer index key is ``customer_key`` (the index is
        eventually consistent: a card written a moment ago may be missing)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": table.CUSTOMERS_INDEX,
            "KeyConditionExpression": "#key = :key",
            "ExpressionAttributeNames": {"#key": table.CUSTOMERS_PK},
            "ExpressionAttributeValues": self._values({":key": customer_key}),
        }
        lookups: list[str] = []
        while True:
            response = self._call("query", **kwargs)
            for item in response.get("Items", []):
                pk = str(self._load(item)["PK"])
                if pk.startswith("CARD#"):
                    lookups.append(pk.removeprefix("CARD#"))
            if "LastEvaluatedKey" not in response:
                return lookups
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

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

    # the audit ----------

    def scan_page(
        self,
        segment: int,
        segments: int,
        start: dict[str, Any] | None,
        *,
        consistent: bool = True,
        limit: int | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of one segment of a parallel scan: its items and the key to continue after
        (None: the segment is done). Strongly consistent by default: a card read on one page
        and its entries on the next must not come from replicas at different points in time.
        Raises ``StorageBusy`` when throttled (``giftcard.scan`` retries the same page)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Segment": segment,
            "TotalSegments": segments,
            "ConsistentRead": consistent,
        }
        if start is not None:
            kwargs["ExclusiveStartKey"] = start
        if limit is not None:
            kwargs["Limit"] = limit
        response = self._call("scan", **kwargs)
        items = [self._load(item) for item in response.get("Items", [])]
        return items, response.get("LastEvaluatedKey")

    def put_audit(self, audit: StoredAudit) -> None:
        """Keep a finished audit (never overwrites another: audit ids are unique)."""
        self._call(
            "put_item",
            TableName=self.table_name,
            Item=self._dump(audit_item(audit)),
            ConditionExpression="attribute_not_exists(PK)",
        )

    def latest_audit(self, day: str | None = None) -> StoredAudit | None:
        """The latest finished audit, or the latest that started on ``day`` (YYYY-MM-DD, UTC)."""
        values: dict[str, Any] = {":pk": AUDIT_PK}
        condition = "PK = :pk"
        if day is not None:
            # Sort keys start with the audit's start time, so a day is a prefix.
            condition += " AND begins_with(SK, :day)"
            values[":day"] = f"{day}T"
        response = self._call(
            "query",
            TableName=self.table_name,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=self._values(values),
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        return audit_from_item(self._load(items[0])) if items else None
