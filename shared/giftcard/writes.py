"""What the domain hands the repository to write, and what the repository raises.

Plain values: no DynamoDB here (``giftcard.items`` maps them to items, ``giftcard.repository``
writes them). Every mutation is one ``Write``, committed as one ``TransactWriteItems``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from giftcard.cards import Card, CardState, Frozen, Instrument

ENTRY_PREFIX = "ENTRY#"
ISSUANCE_PREFIX = "ISSUANCE#"

#: Every kind of ledger entry: NewStore's calls write the first eight (money moved, or a card's
#: lifecycle), an operator's action the rest (only ``adjust`` moves money). The one list: the
#: operator API's ``Entry`` and the events' ``detail`` take their ``kind`` type from it.
EntryKind = Literal[
    "issue",
    "activate",
    "deactivate_void",
    "hold",
    "capture",
    "release",
    "release_void",
    "refund",
    "adjust",
    "freeze",
    "unfreeze",
    "unlock_pin",
    "expiry_set",
    "customer_erased",
]
ENTRY_KINDS: tuple[str, ...] = get_args(EntryKind)
#: The kinds an operator's action writes (back office).
OPERATOR_KINDS = ENTRY_KINDS[ENTRY_KINDS.index("adjust") :]
#: The kinds NewStore's calls write.
LEDGER_KINDS = ENTRY_KINDS[: ENTRY_KINDS.index("adjust")]


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
    #: Who: the API key id for NewStore's calls, the IAM ARN for an operator's.
    actor: str = ""
    #: Why (operator actions only).
    reason: str = ""
    #: The card's last 4 digits, so what is published about an entry can name the card to a person.
    last4: str = ""
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
class CardRegistration:
    """An unknown number registered by its activation (the deployment allows it): what the new
    card holds besides what the activation sets."""

    last4: str
    created_at: str


@dataclass(frozen=True)
class CardUpdate:
    """Change a card whose state is as read (``expect_version``) or, when the caller did not read
    it, whose state is one of ``expect_states`` (``allow_missing``: create it if absent, from
    ``registration``). Fields left ``None`` stay as they are."""

    lookup: str
    expect_version: int | None = None
    expect_states: tuple[CardState, ...] = ()
    allow_missing: bool = False
    registration: CardRegistration | None = None
    state: CardState | None = None
    currency: str | None = None
    balance: int | None = None
    held: int | None = None
    activated_at: str | None = None
    deactivated_at: str | None = None
    expires_at: str | None = None
    customer_sealed: bytes | None = None
    customer_key: str | None = None
    #: A right PIN was proven (or an operator unlocks the PIN): reset the guess window, the lock
    #: and the lockout streak.
    reset_pin: bool = False
    #: Only while the card is not frozen (checked with ``expect_states``: activation).
    expect_unfrozen: bool = False
    frozen: Frozen | None = None
    unfreeze: bool = False
    clear_expiry: bool = False
    #: Remove the sealed customer and the customer index key (erasure).
    erase_customer: bool = False

    def changes(self) -> dict[str, Any]:
        """The card fields this update sets (by their names on ``Card``)."""
        names = (
            "state",
            "currency",
            "balance",
            "held",
            "activated_at",
            "deactivated_at",
            "expires_at",
            "customer_key",
        )
        changed = {name: getattr(self, name) for name in names}
        return {name: value for name, value in changed.items() if value is not None}


@dataclass(frozen=True)
class CardPartition:
    """A card as the back office reads it: the card, its sealed customer (None: none or erased)
    and its whole ledger, oldest first (one partition)."""

    card: Card
    customer_sealed: bytes | None
    entries: Sequence[LedgerEntry]


@dataclass(frozen=True)
class CardCheck:
    """Only assert the card is still as read (``None``: still absent)."""

    lookup: str
    expect_version: int | None


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


@dataclass(frozen=True)
class StoredAudit:
    """One finished audit, kept: ``body`` is its answer (``GET /admin/audit/latest``) as JSON."""

    audit_id: str
    as_of: str  # UTC, ISO 8601 to the second: the audit's start, which it reports on
    finished_at: str
    cards_checked: int
    mismatches: int
    body: str
