"""The one DynamoDB table: cards, ledger entries, idempotency records and instruments."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from giftcard import table as schema


class Storage(Construct):
    """On-demand table with the key schema from ``giftcard.table`` (the same one moto uses).

    Encryption: AWS-owned key (DynamoDB's default). The table never holds a card number, PIN or
    replayable body in clear: lookups and PINs are HMACs and stored responses are AES-GCM
    encrypted with key material kept in Secrets Manager. A customer-managed KMS key would add a
    monthly cost and a KMS grant on every function role without protecting anything the
    application-level encryption does not already protect; switch ``encryption`` to
    ``CUSTOMER_MANAGED`` here if an auditor asks for key-level access logs.
    """

    def __init__(self, scope: Construct, construct_id: str, *, table_name: str = "") -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=table_name or None,
            partition_key=dynamodb.Attribute(
                name=schema.PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=schema.SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            # New images of every write: the event publisher's source (infra/events.py).
            stream=dynamodb.StreamViewType[schema.STREAM_VIEW_TYPE],
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            encryption=dynamodb.TableEncryption.DEFAULT,
            # Money lives here: `cdk destroy` must never take the balances with it.
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.table.add_global_secondary_index(
            index_name=schema.OPEN_RESERVATIONS_INDEX,
            partition_key=dynamodb.Attribute(
                name=schema.OPEN_RESERVATIONS_PK, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(
                name=schema.OPEN_RESERVATIONS_SK, type=dynamodb.AttributeType.STRING
            ),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
        # The back office finds a customer's cards by a keyed hash of the customer id.
        self.table.add_global_secondary_index(
            index_name=schema.CUSTOMERS_INDEX,
            partition_key=dynamodb.Attribute(
                name=schema.CUSTOMERS_PK, type=dynamodb.AttributeType.STRING
            ),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )

    @property
    def open_reservations_index_arn(self) -> str:
        return f"{self.table.table_arn}/index/{schema.OPEN_RESERVATIONS_INDEX}"

    @property
    def customers_index_arn(self) -> str:
        return f"{self.table.table_arn}/index/{schema.CUSTOMERS_INDEX}"
