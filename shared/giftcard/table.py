"""The table's key schema: one definition for the CDK stack, moto and the local run."""

from __future__ import annotations

from typing import Any

PARTITION_KEY = "PK"
SORT_KEY = "SK"
#: Epoch seconds; DynamoDB TTL deletes expired idempotency and instrument records (cleanup only:
#: expiry itself is decided in code by comparing timestamps).
TTL_ATTRIBUTE = "ttl"

#: Sparse index of open reservations by expiry: only instruments with reserved money left carry
#: these attributes, so the expiry job queries exactly what it must release.
OPEN_RESERVATIONS_INDEX = "open-reservations"
OPEN_RESERVATIONS_PK = "OPEN_PK"
OPEN_RESERVATIONS_SK = "OPEN_SK"
#: Open reservations are spread over this many index partitions ("OPEN#0" .. "OPEN#7").
OPEN_RESERVATIONS_SHARDS = 8

#: Sparse index of cards by customer: only cards with a customer id carry this attribute, a keyed
#: hash of the id (``KeyMaterial.customer_hash``), never the id in clear. Keys only: the back
#: office reads each card's partition for what it shows.
CUSTOMERS_INDEX = "customers"
CUSTOMERS_PK = "customer_key"
#: The table's stream (infra/storage.py): new images only, which is all the event publisher reads
#: (entries are immutable; a new entry's image is the whole event). The local run turns the same
#: stream on in moto (``tools/local_api/events.py``).
STREAM_VIEW_TYPE = "NEW_IMAGE"


def stream_specification() -> dict[str, Any]:
    """``StreamSpecification`` for ``CreateTable``/``UpdateTable``, as the stack configures it."""
    return {"StreamEnabled": True, "StreamViewType": STREAM_VIEW_TYPE}


def create_table_kwargs(table_name: str) -> dict[str, Any]:
    """Arguments for ``CreateTable`` matching the deployed table (on-demand, PK/SK strings)."""
    return {
        "TableName": table_name,
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
            {"AttributeName": OPEN_RESERVATIONS_PK, "AttributeType": "S"},
            {"AttributeName": OPEN_RESERVATIONS_SK, "AttributeType": "S"},
            {"AttributeName": CUSTOMERS_PK, "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": OPEN_RESERVATIONS_INDEX,
                "KeySchema": [
                    {"AttributeName": OPEN_RESERVATIONS_PK, "KeyType": "HASH"},
                    {"AttributeName": OPEN_RESERVATIONS_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": CUSTOMERS_INDEX,
                "KeySchema": [{"AttributeName": CUSTOMERS_PK, "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
