"""What each function may do to the table and the secrets, as data: the route registry
(``giftcard.routes``) gives every route its ``Access``, and the stack (``infra.functions``) turns
it into the function's IAM policy. Pure data, no CDK: the Lambda layer carries it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from giftcard import table as schema

#: Balance: one GetItem, or a PIN guess charged with one conditional UpdateItem (which the
#: right PIN's reset and a lock's confirmation are too).
BALANCE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
#: The actions that change items: their statement carries the attribute condition below.
WRITE_ACTIONS = frozenset({"dynamodb:PutItem", "dynamodb:UpdateItem"})
#: Mutations are one TransactWriteItems: IAM checks each item's own action (Put, Update,
#: ConditionCheck), so the transaction needs exactly these. BatchGetItem checks a generated
#: number against existing cards; GetItem replays an idempotency record.
TRANSACT_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:ConditionCheckItem",
)


# Which attributes each role may write ----------------------------------------------------------
#
# IAM's `dynamodb:Attributes` condition key holds the top-level attribute names a request
# specifies; with `ForAllValues:StringEquals` a PutItem or UpdateItem is allowed only if every one
# of them is in the list, and the list must name the table's key attributes (PK, SK) because
# every request specifies them (AWS, DynamoDB Developer Guide, "Using IAM policy conditions for
# fine-grained access control", and IAM User Guide, "Amazon DynamoDB: Allows access to specific
# attributes"). "Attribute conditions are evaluated only on attributes specified in the request"
# (same page), so an attribute a request only names in its ConditionExpression (pin_hash, in the
# PIN charge) is listed too. Inside TransactWriteItems each Put/Update is authorized as the
# PutItem/UpdateItem it stands for (DynamoDB Developer Guide, "Using IAM with DynamoDB
# transactions"), so the same statement governs the transaction's items.
#
# No `dynamodb:ReturnValues`/`dynamodb:Select` condition: those keep a write-only principal from
# reading attributes back, but every role here already reads whole items with GetItem, and the
# PIN charge needs ReturnValues ALL_NEW.
#
# The lists below are the one source: tests/infra/test_write_attributes.py runs the repository's
# writes for each function and checks that what they name is exactly its list.

KEY = ("PK", "SK")
#: An idempotency record (repository.record_item).
RECORD = ("type", "status", "body", "params", "created_at", "expires_at", schema.TTL_ATTRIBUTE)
#: A ledger entry (repository.entry_item).
ENTRY = (
    "type",
    "kind",
    "amount",
    "currency",
    "balance_before",
    "balance_after",
    "held_before",
    "held_after",
    "created_at",
    "record",
    "request_id",
    "key_id",
    "store_id",
    "instrument_id",
    "actor",
    "last4",
)
#: A guess charged, a lock confirmed, a window reset (charge_pin_guess, confirm_pin_lock,
#: settle_pin, CardUpdate.reset_pin); pin_hash is only named in the charge's condition.
PIN = ("pin_failures", "pin_locked_until", "pin_lockouts", "pin_hard_locked", "pin_charge")
PIN_CONDITION = ("pin_hash",)
#: Money moved on a card as read (a CardUpdate conditioned on its version).
CARD_MONEY = ("balance", "held", "version")
#: A whole new card (repository.card_item with a sealed customer).
CARD_CREATE = (
    "type",
    "state",
    "last4",
    "currency",
    "balance",
    "held",
    "version",
    "pin_hash",
    *PIN,
    "created_at",
    "activated_at",
    "deactivated_at",
    "expires_at",
    "source",
    "customer",
    schema.CUSTOMERS_PK,
)
#: Activation: an inactive (or, if allowed, unknown) card gets its state, amount and customer;
#: ``frozen`` is only named in its condition (an operator's block refuses activation).
CARD_ACTIVATE = (
    "state",
    "currency",
    "balance",
    "held",
    "version",
    "activated_at",
    "expires_at",
    "customer",
    "type",
    "last4",
    "created_at",
    "source",
    "pin_failures",
    "pin_locked_until",
    schema.CUSTOMERS_PK,
    "frozen",
)
CARD_DEACTIVATE = ("state", "balance", "deactivated_at", "version")
#: A financial instrument (repository.instrument_item), with its sparse index keys.
INSTRUMENT = (
    "type",
    "card",
    "currency",
    "created_at",
    "account_id",
    "last4",
    "authorized",
    "captured",
    "refunded",
    "released",
    "version",
    "expires_at",
    schema.OPEN_RESERVATIONS_PK,
    schema.OPEN_RESERVATIONS_SK,
)
#: The daily issuance counter per currency (issue and activate load money onto cards).
ISSUANCE = ("type", "issued", "updated_at", schema.TTL_ATTRIBUTE)

# The back office (giftcard.backoffice) ---------------------------------------------------------
#
# What each operator operation sends to the table (one TransactWriteItems per change: the card's
# Update, conditioned on its version as read, and the entry's Put; adjust adds its idempotency
# record, and a refusal decided against the card is a ConditionCheck with the record):
#
#   lookup           Query (table: the card's partition)
#   history          GetItem (the card), Query (table: its entries, newest first)
#   customers_cards  Query (index `customers`), Query (table: each card's partition)
#   freeze           Query; transaction: UpdateItem CARD_FREEZE + PutItem OPERATOR_ENTRY
#   unfreeze         Query; transaction: UpdateItem CARD_FREEZE + PutItem OPERATOR_ENTRY
#   unlock_pin       Query; transaction: UpdateItem CARD_UNLOCK_PIN + PutItem OPERATOR_ENTRY
#   expiry           Query; transaction: UpdateItem CARD_EXPIRY + PutItem OPERATOR_ENTRY
#   adjust           GetItem (record), Query; transaction: PutItem RECORD + UpdateItem
#                    CARD_ADJUST + PutItem ADJUST_ENTRY, or PutItem RECORD + ConditionCheckItem
#   customers_erase  Query (index `customers`), GetItem (each card); per card a transaction:
#                    UpdateItem CARD_ERASE + PutItem OPERATOR_ENTRY
#
# tests/infra/test_write_attributes.py runs each operation on moto and checks that what it writes
# is exactly its route's list.

#: An operator action's entry: no API key, store or instrument; who (the IAM ARN) and why. Only
#: adjust's entry, which moves money, belongs to an idempotency record.
OPERATOR_ENTRY = (
    "type",
    "kind",
    "amount",
    "currency",
    "balance_before",
    "balance_after",
    "held_before",
    "held_after",
    "created_at",
    "request_id",
    "actor",
    "reason",
    "last4",
)
ADJUST_ENTRY = (*OPERATOR_ENTRY, "record")
CARD_FREEZE = ("frozen", "version")
CARD_UNLOCK_PIN = (*PIN, "version")
CARD_EXPIRY = ("expires_at", "version")
CARD_ADJUST = ("balance", "version")
CARD_ERASE = ("customer", schema.CUSTOMERS_PK, "version")
_OPERATOR_CHANGE = ("dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem")

#: What reserve, capture, refund, revoke and the expiry job write.
REDEMPTION = (*KEY, *RECORD, *ENTRY, *CARD_MONEY, *INSTRUMENT)


@dataclass(frozen=True)
class Access:
    """One function's needs: table actions, the attributes its writes name, indexes, secrets."""

    table_actions: tuple[str, ...] = ()
    #: Every attribute its PutItem/UpdateItem requests name (alone or in a transaction).
    writes: tuple[str, ...] = ()
    query_open_reservations: bool = False
    #: Query on the customer index (``customers``: a keyed hash of the customer id).
    query_customers: bool = False
    #: Query on the kept audits' partition only (``infra.audit.AuditJob.grant_read``).
    reads_audits: bool = False
    #: May start the audit job (``infra.audit.AuditJob.grant_run``: invoke, its name in the env).
    starts_audit: bool = False
    reads_key_material: bool = True
    reads_api_keys: bool = False

    def __post_init__(self) -> None:
        if bool(set(self.table_actions) & WRITE_ACTIONS) != bool(self.writes):
            raise ValueError("a function that writes lists what it writes, and only then")

    @property
    def write_attributes(self) -> list[str]:
        """The writable attributes, sorted and without repeats (the policy's list)."""
        return sorted(set(self.writes))


BALANCE = Access(BALANCE_ACTIONS, (*KEY, *PIN, *PIN_CONDITION))
ISSUE = Access(TRANSACT_ACTIONS, (*KEY, *RECORD, *CARD_CREATE, *ENTRY, *ISSUANCE))
ACTIVATE = Access(TRANSACT_ACTIONS, (*KEY, *RECORD, *CARD_ACTIVATE, *ENTRY, *ISSUANCE))
DEACTIVATE = Access(
    TRANSACT_ACTIONS, (*KEY, *RECORD, *CARD_DEACTIVATE, *PIN, *PIN_CONDITION, *ENTRY)
)
RESERVE = Access(TRANSACT_ACTIONS, (*REDEMPTION, *PIN, *PIN_CONDITION))
SETTLE = Access(TRANSACT_ACTIONS, REDEMPTION)
RESERVATION_EXPIRY = Access(TRANSACT_ACTIONS, REDEMPTION, query_open_reservations=True)
AUTHORIZER = Access(reads_key_material=False, reads_api_keys=True)

CARD_LOOKUP = Access(("dynamodb:Query",))
CARD_HISTORY = Access(("dynamodb:GetItem", "dynamodb:Query"))
CARD_FREEZE_CHANGE = Access(_OPERATOR_CHANGE, (*KEY, *CARD_FREEZE, *OPERATOR_ENTRY))
CARD_UNLOCK_PIN_CHANGE = Access(_OPERATOR_CHANGE, (*KEY, *CARD_UNLOCK_PIN, *OPERATOR_ENTRY))
CARD_EXPIRY_CHANGE = Access(_OPERATOR_CHANGE, (*KEY, *CARD_EXPIRY, *OPERATOR_ENTRY))
CARD_ADJUST_CHANGE = Access(
    (
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
    ),
    (*KEY, *RECORD, *CARD_ADJUST, *ADJUST_ENTRY),
)
CUSTOMER_CARDS = Access(("dynamodb:Query",), query_customers=True)
CUSTOMER_ERASE = Access(
    ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
    (*KEY, *CARD_ERASE, *OPERATOR_ENTRY),
    query_customers=True,
)

#: The reports read kept audits; the on-demand audit starts the job (which alone may Scan).
AUDIT_READ = Access(reads_audits=True)
AUDIT_START = Access(starts_audit=True)
