"""The nightly audit's pure core: what one scan segment's items say, and how segments add up.

The audit reads the whole table once (``giftcard.scan`` runs the segments in threads) and
answers, as of its start: does every card's balance and held amount equal its ledger (the entries
chain, each starting where the previous ended; open reservations sum to ``held``), what is owed
per currency (liability), how long the owed money has lain still (dormancy), and how many cards
expire soon. ``../../docs/operations.md`` ("The nightly audit") says what each figure means.

Pure: items in (as the repository loads them), values out; no AWS. The work is split so that any
grouping of the table gives the same answer:

- ``audit_segment(items, as_of)`` folds one segment's items, in scan order, into an
  ``AuditPart``. A card and its ledger entries share a partition, and DynamoDB stores (so a scan
  returns) "all items with the same partition key value together, in sorted order by sort key"
  (Developer Guide, "Core components"): a card's partition is one run of items, wherever the
  pages of the scan cut it, so each card is checked as soon as its run ends and only totals are
  kept.
- Reservations (financial instruments) live in partitions of their own, so they may be scanned by
  another segment than their card: each part keeps, per card, the held amount of its cards and
  the open reservations it saw, and ``finish`` joins the two once every part is in.
- ``combine(a, b)`` adds two parts. It is associative and ``EMPTY`` is its identity
  (``tests/unit/test_audit.py``), so parts can be combined in any grouping: segments of one job,
  or jobs of their own.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any, NamedTuple

from giftcard.clock import Instant
from giftcard.items import CARD_SK, card_id
from giftcard.money import to_major

DORMANCY_BUCKETS = ("<1y", "1-2y", "2-3y", "3-5y", ">=5y")
#: Years since last activity at which each bucket after the first starts.
_BUCKET_YEARS = (1, 2, 3, 5)
#: "Expiring" windows: active cards whose expiry falls within this many days after the start
#: (cumulative: the 90-day figure includes the 30-day one).
EXPIRING_DAYS = {"30d": 30, "90d": 90}
#: A card whose ledger moved this shortly before the audit started, or since, may have been
#: written between the scan's read of the card and its read of the entries (a scan is not a
#: snapshot): such a card is accepted if it stands at any state its ledger passed through since
#: then. Transactions commit well within this of the time their entries carry.
RACE_GRACE_SECONDS = 300
#: Ledger kinds that are the card being used (dormancy counts from the last of them). Operator
#: actions, voids and corrections are not the holder's activity.
ACTIVITY_KINDS = frozenset({"issue", "activate", "hold", "capture", "release", "refund"})
#: An entry carrying all four moves money; others (freeze, unlock_pin, ...) are records only.
MONEY_FIELDS = ("balance_before", "balance_after", "held_before", "held_after")

_MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


def moment(text: str) -> str:
    """A stored UTC timestamp as sortable text to the microsecond: cards carry seconds
    (``...08:00:00Z``), ledger entries microseconds (``...08:00:00.000000Z``); compared as text
    the two would disagree within the same second."""
    if len(text) == 20 and text.endswith("Z"):
        return text[:19] + ".000000Z"
    if len(text) == 27 and text.endswith("Z"):
        return text
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime(_MICRO)


def _years_before(when: datetime, years: int) -> datetime:
    try:
        return when.replace(year=when.year - years)
    except ValueError:  # 29 February
        return when.replace(year=when.year - years, day=28)


@dataclass(frozen=True)
class AsOf:
    """The instant the audit reports on (its start), with the boundaries derived from it."""

    iso: str  #: to the microsecond
    seconds: str  #: to the second, as answers show it
    race_cutoff: str
    #: Last activity after the first boundary is "<1y", after the second "1-2y", ...
    dormancy_boundaries: tuple[str, ...]
    expiring_until: Mapping[str, str]

    @classmethod
    def at(cls, instant: Instant) -> AsOf:
        when = datetime.fromtimestamp(instant.epoch, UTC)
        return cls(
            iso=instant.iso_micro,
            seconds=instant.iso,
            race_cutoff=(when - timedelta(seconds=RACE_GRACE_SECONDS)).strftime(_MICRO),
            dormancy_boundaries=tuple(
                _years_before(when, years).strftime(_MICRO) for years in _BUCKET_YEARS
            ),
            expiring_until={
                label: (when + timedelta(days=days)).strftime(_MICRO)
                for label, days in EXPIRING_DAYS.items()
            },
        )

    def dormancy_bucket(self, last_activity: str) -> str:
        for bucket, boundary in zip(DORMANCY_BUCKETS, self.dormancy_boundaries, strict=False):
            if last_activity > boundary:
                return bucket
        return DORMANCY_BUCKETS[-1]


# Partial results ---------------------------------------------------------------------------------


class Owed(NamedTuple):
    """Liability of one currency: cards, spendable and held (minor units)."""

    cards: int = 0
    spendable: int = 0
    held: int = 0

    @property
    def outstanding(self) -> int:
        return self.spendable + self.held


class Dormant(NamedTuple):
    """One dormancy bucket of one currency: cards and what they hold (minor units)."""

    cards: int = 0
    outstanding: int = 0


class Mismatch(NamedTuple):
    card_id: str
    problem: str


class Amount(NamedTuple):
    """Minor units and their currency ("" when not known)."""

    minor: int
    currency: str


@dataclass(frozen=True)
class AuditPart:
    """What some items of the table say; ``combine`` adds parts, ``finish`` concludes."""

    items: int = 0
    cards_checked: int = 0
    entries_checked: int = 0
    liability: Mapping[str, Owed] = field(default_factory=dict)
    dormancy: Mapping[tuple[str, str], Dormant] = field(default_factory=dict)
    expiring: Mapping[str, int] = field(default_factory=dict)
    mismatches: tuple[Mismatch, ...] = ()
    #: Card lookup -> its held amount, for cards holding money (joined with ``reserved``).
    held: Mapping[str, Amount] = field(default_factory=dict)
    #: Card lookup -> the open reservations on it that these items include.
    reserved: Mapping[str, Amount] = field(default_factory=dict)
    #: Cards written while the audit ran (their held amount and reservations may have been read
    #: at different moments) or unreadable: not joined.
    moving: frozenset[str] = frozenset()


EMPTY = AuditPart()


def _add(a: Mapping[Any, Any], b: Mapping[Any, Any]) -> dict[Any, Any]:
    """Key-wise sum of two maps of number tuples."""
    merged = dict(a)
    for key, value in b.items():
        mine = merged.get(key)
        merged[key] = value if mine is None else type(value)(*map(_plus, mine, value))
    return merged


def _plus(x: Any, y: Any) -> Any:
    if isinstance(x, str):  # a currency: whichever side knows it
        return x or y
    return x + y


def combine(a: AuditPart, b: AuditPart) -> AuditPart:
    """The audit of ``a``'s items and ``b``'s items together. Associative; ``EMPTY`` is neutral."""
    return AuditPart(
        items=a.items + b.items,
        cards_checked=a.cards_checked + b.cards_checked,
        entries_checked=a.entries_checked + b.entries_checked,
        liability=_add(a.liability, b.liability),
        dormancy=_add(a.dormancy, b.dormancy),
        expiring=dict(Counter(a.expiring) + Counter(b.expiring)),
        mismatches=a.mismatches + b.mismatches,
        held=_add(a.held, b.held),
        reserved=_add(a.reserved, b.reserved),
        moving=a.moving | b.moving,
    )


def combine_all(parts: Iterable[AuditPart]) -> AuditPart:
    total = EMPTY
    for part in parts:
        total = combine(total, part)
    return total


# One card ----------------------------------------------------------------------------------------


class _Entry(NamedTuple):
    moment: str
    entry_id: str
    kind: str
    currency: str
    amount: int
    balance_before: int
    balance_after: int
    held_before: int
    held_after: int


@dataclass
class CardVerdict:
    """What one card's partition says."""

    lookup: str
    problems: list[str] = field(default_factory=list)
    #: (currency, spendable, held) as of the start, when the card was active then.
    owed: tuple[str, int, int] | None = None
    last_activity: str = ""
    expires_at: str = ""
    held: Amount | None = None
    moving: bool = False


def _text(minor: int, currency: str) -> str:
    if not currency:
        return f"{minor} (minor units)"
    return f"{to_major(minor, currency)} {currency}"


def _trail(
    start: tuple[int, int], edges: Sequence[tuple[tuple[int, int], tuple[int, int]]]
) -> list[tuple[int, int]] | None:
    """The states a group of entries with the same timestamp passes through, in an order in which
    each starts where the previous ended, from ``start``; None when no such order exists.

    Entries written within one microsecond (a fixed clock in tests, or two requests landing
    together) have no order of their own; their before/after values are what links them. An
    order using every entry once is an Eulerian trail of the graph whose nodes are states and
    whose edges are entries (Hierholzer's algorithm; degrees decide existence and the end)."""
    if len(edges) == 1:
        before, after = edges[0]
        return [before, after] if before == start else None
    outgoing: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    balance: Counter[tuple[int, int]] = Counter()
    for before, after in edges:
        outgoing[before].append(after)
        balance[before] += 1
        balance[after] -= 1
    starts = [node for node, surplus in balance.items() if surplus > 0]
    if starts and (starts != [start] or balance[start] != 1):
        return None
    if not starts and start not in outgoing:
        return None
    if any(abs(surplus) > 1 for surplus in balance.values()):
        return None
    stack, path = [start], []
    while stack:
        node = stack[-1]
        if outgoing.get(node):
            stack.append(outgoing[node].pop())
        else:
            path.append(stack.pop())
    if len(path) != len(edges) + 1:
        return None  # not connected: some entries cannot be reached from ``start``
    path.reverse()
    return path


def _entry(item: Mapping[str, Any]) -> _Entry:
    created, _, entry_id = str(item["SK"]).rpartition("#")
    return _Entry(
        moment=moment(str(item.get("created_at") or created.partition("#")[2])),
        entry_id=entry_id,
        kind=str(item.get("kind", "")),
        currency=str(item.get("currency") or ""),
        amount=int(item.get("amount") or 0),
        balance_before=int(item["balance_before"]),
        balance_after=int(item["balance_after"]),
        held_before=int(item["held_before"]),
        held_after=int(item["held_after"]),
    )


def _active_at(card: Mapping[str, Any], as_of: str) -> bool:
    """Was the card active (frozen or not) at the audit's start?"""
    state = card.get("state")
    created, activated = card.get("created_at"), card.get("activated_at")
    if created and moment(str(created)) > as_of:
        return False
    if activated and moment(str(activated)) > as_of:
        return False
    if state == "active":
        return True
    if state == "deactivated" and activated:
        deactivated = card.get("deactivated_at")
        return bool(deactivated) and moment(str(deactivated)) > as_of
    return False


def audit_card(
    lookup: str,
    card: Mapping[str, Any] | None,
    entry_items: Sequence[Mapping[str, Any]],
    as_of: AsOf,
) -> CardVerdict:
    """Check one card against its ledger (its partition's items)."""
    verdict = CardVerdict(lookup)
    problems = verdict.problems
    currency = str(card.get("currency") or "") if card is not None else ""
    money = sorted(
        (
            _entry(item)
            for item in entry_items
            if all(item.get(f) is not None for f in MONEY_FIELDS)
        ),
        key=lambda entry: entry.moment,
    )
    for entry in money:
        change = (entry.balance_after + entry.held_after) - (
            entry.balance_before + entry.held_before
        )
        if entry.amount != change:
            problems.append(
                f"ledger entry {entry.entry_id} ({entry.kind}): amount"
                f" {_text(entry.amount, currency)} is not its change of value"
                f" {_text(change, currency)}"
            )
        if min(entry.balance_after, entry.held_after) < 0:
            problems.append(
                f"ledger entry {entry.entry_id} ({entry.kind}): negative balance or held"
            )
        if currency and entry.currency and entry.currency != currency:
            problems.append(
                f"ledger entry {entry.entry_id} ({entry.kind}): currency {entry.currency},"
                f" the card's is {currency}"
            )

    # The chain, group by group of equal timestamps.
    state, at_start, broken = (0, 0), (0, 0), ""
    since_cutoff: set[tuple[int, int]] = set()
    moved_after_start = False
    last_activity = ""
    for stamp, group in groupby(money, key=lambda entry: entry.moment):
        entries = list(group)
        trail = _trail(
            state,
            [((e.balance_before, e.held_before), (e.balance_after, e.held_after)) for e in entries],
        )
        if trail is None:
            broken = stamp
            break
        state = trail[-1]
        if stamp >= as_of.race_cutoff:
            since_cutoff.update(trail)
        if stamp <= as_of.iso:
            at_start = state
            if any(e.kind in ACTIVITY_KINDS for e in entries):
                last_activity = stamp
        else:
            moved_after_start = True
    verdict.moving = bool(since_cutoff)

    if card is None:
        problems.append("ledger entries without their card")
        return verdict
    balance, held = int(card.get("balance") or 0), int(card.get("held") or 0)
    total = sum(entry.amount for entry in money)
    if broken:
        problems.append(f"ledger entries do not chain at {broken}")
    if (balance, held) != state and (balance, held) not in since_cutoff:
        if balance + held != total:
            problems.append(
                f"balance + held is {_text(balance + held, currency)}, the ledger sums to"
                f" {_text(total, currency)}"
            )
        elif not broken:
            problems.append(
                f"balance {_text(balance, currency)} and held {_text(held, currency)}, the ledger"
                f" ends at balance {_text(state[0], currency)} and held {_text(state[1], currency)}"
            )
    if held:
        verdict.held = Amount(held, currency)

    if _active_at(card, as_of.iso):
        if not currency:
            problems.append("active card without a currency")
        else:
            # As of the start: a card the ledger moved since then counts as it stood then.
            spendable, reserved = at_start if moved_after_start and not broken else (balance, held)
            verdict.owed = (currency, spendable, reserved)
            fallback = card.get("activated_at") or card.get("created_at")
            verdict.last_activity = last_activity or (moment(str(fallback)) if fallback else "")
            expires = card.get("expires_at")
            verdict.expires_at = moment(str(expires)) if expires else ""
    return verdict


# One segment -------------------------------------------------------------------------------------


class SegmentAudit:
    """Folds the items of one scan segment, in scan order, into an ``AuditPart``."""

    def __init__(self, as_of: AsOf) -> None:
        self.as_of = as_of
        self.items = 0
        self.cards = 0
        self.entries = 0
        self.liability: dict[str, Owed] = {}
        self.dormancy: dict[tuple[str, str], Dormant] = {}
        self.expiring: Counter[str] = Counter()
        self.mismatches: list[Mismatch] = []
        self.held: dict[str, Amount] = {}
        self.reserved: dict[str, Amount] = {}
        self.moving: set[str] = set()
        self._partition = ""
        self._card: Mapping[str, Any] | None = None
        self._entries: list[Mapping[str, Any]] = []

    def add(self, item: Mapping[str, Any]) -> None:
        self.items += 1
        kind = item.get("type")
        if kind == "instrument":
            self._instrument(item)
            return
        if kind not in ("card", "entry"):
            return  # idempotency records, issuance counters, audits: not the ledger's
        partition = str(item["PK"])
        if partition != self._partition:
            self._close()
            self._partition = partition
        if kind == "card" and item.get("SK") == CARD_SK:
            self._card = item
        else:
            self._entries.append(item)
            self.entries += 1

    def _instrument(self, item: Mapping[str, Any]) -> None:
        reserved = int(item["authorized"]) - int(item["captured"]) - int(item["released"])
        if reserved:
            lookup = str(item["card"])
            before = self.reserved.get(lookup, Amount(0, ""))
            self.reserved[lookup] = Amount(before.minor + reserved, str(item.get("currency", "")))

    def _close(self) -> None:
        if not self._partition:
            return
        lookup = self._partition.removeprefix("CARD#")
        try:
            verdict = audit_card(lookup, self._card, self._entries, self.as_of)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            # An item the service cannot have written (a missing or garbled attribute) is
            # tampering or a bug like any other mismatch: reported, and the audit goes on.
            # Its held amount is unknown, so its reservations are not joined either.
            problem = f"unreadable card or ledger entry ({type(exc).__name__})"
            verdict = CardVerdict(lookup, [problem], moving=True)
        if self._card is not None:
            self.cards += 1
        self._partition, self._card, self._entries = "", None, []
        self.mismatches.extend(Mismatch(card_id(lookup), p) for p in verdict.problems)
        if verdict.held is not None:
            self.held[lookup] = verdict.held
        if verdict.moving:
            self.moving.add(lookup)
        if verdict.owed is None:
            return
        currency, spendable, held = verdict.owed
        owed = self.liability.get(currency, Owed())
        self.liability[currency] = Owed(
            owed.cards + 1, owed.spendable + spendable, owed.held + held
        )
        bucket = (currency, self.as_of.dormancy_bucket(verdict.last_activity or self.as_of.iso))
        dormant = self.dormancy.get(bucket, Dormant())
        self.dormancy[bucket] = Dormant(dormant.cards + 1, dormant.outstanding + spendable + held)
        if verdict.expires_at and verdict.expires_at > self.as_of.iso:
            for label, until in self.as_of.expiring_until.items():
                if verdict.expires_at <= until:
                    self.expiring[label] += 1

    def result(self) -> AuditPart:
        self._close()
        return AuditPart(
            items=self.items,
            cards_checked=self.cards,
            entries_checked=self.entries,
            liability=dict(self.liability),
            dormancy=dict(self.dormancy),
            expiring=dict(self.expiring),
            mismatches=tuple(self.mismatches),
            held=dict(self.held),
            reserved=dict(self.reserved),
            moving=frozenset(self.moving),
        )


def audit_segment(items: Iterable[Mapping[str, Any]], as_of: AsOf) -> AuditPart:
    """The part of the audit one scan segment's items (in scan order) make."""
    segment = SegmentAudit(as_of)
    for item in items:
        segment.add(item)
    return segment.result()


# The conclusion ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditResult:
    """The audit's figures, as of its start. Amounts in minor units."""

    as_of: str
    items: int
    cards_checked: int
    entries_checked: int
    #: Currency -> what is owed, currencies sorted.
    liability: Mapping[str, Owed]
    #: Currency -> one ``Dormant`` per ``DORMANCY_BUCKETS`` entry, in that order.
    dormancy: Mapping[str, tuple[Dormant, ...]]
    expiring: Mapping[str, int]
    #: Sorted by card id, then problem.
    mismatches: tuple[Mismatch, ...]


def finish(part: AuditPart, as_of: AsOf) -> AuditResult:
    """Conclude an audit from the combination of all its parts: join reservations to cards."""
    mismatches = list(part.mismatches)
    for lookup in set(part.held) | set(part.reserved):
        if lookup in part.moving:
            continue
        held = part.held.get(lookup, Amount(0, ""))
        reserved = part.reserved.get(lookup, Amount(0, ""))
        if held.minor != reserved.minor:
            currency = held.currency or reserved.currency
            mismatches.append(
                Mismatch(
                    card_id(lookup),
                    f"open reservations hold {_text(reserved.minor, currency)}, the card's held"
                    f" is {_text(held.minor, currency)}",
                )
            )
    currencies = sorted(part.liability)
    return AuditResult(
        as_of=as_of.seconds,
        items=part.items,
        cards_checked=part.cards_checked,
        entries_checked=part.entries_checked,
        liability={currency: part.liability[currency] for currency in currencies},
        dormancy={
            currency: tuple(
                part.dormancy.get((currency, bucket), Dormant()) for bucket in DORMANCY_BUCKETS
            )
            for currency in currencies
        },
        expiring={label: part.expiring.get(label, 0) for label in EXPIRING_DAYS},
        mismatches=tuple(sorted(mismatches)),
    )
