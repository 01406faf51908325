"""Each role's `dynamodb:Attributes` list is exactly what its function's writes name.

The repository's own write methods run against a recording client (no AWS, no moto): every
PutItem and UpdateItem, alone or inside TransactWriteItems, is taken apart into the top-level
attribute names it specifies (item keys, expression names, names written plainly in its update
and condition expressions). A function whose writes name an attribute missing from its list would
be refused by IAM in production; a list naming more than the writes lets the role write more than
it needs. Both fail here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from giftcard.cards import OPTIMISTIC_CHARGE, Card, CardState, Instrument, PinCharge
from giftcard.items import card_item
from giftcard.repository import Repository
from giftcard.writes import (
    CardCheck,
    CardCreate,
    CardRegistration,
    CardUpdate,
    InstrumentWrite,
    IssuanceCharge,
    LedgerEntry,
    StoredRecord,
    Write,
)
from infra.functions import FUNCTIONS, WRITE_ACTIONS, WRITE_ATTRIBUTES, write_attributes
from tests.infra.conftest import Synth
from tests.infra.test_functions import _as_list, role_statements

#: A token of an expression: placeholder sigil, word, and an opening parenthesis (a function).
_TOKENS = re.compile(r"([#:]?)([A-Za-z_]\w*)(\s*\()?")
_KEYWORDS = frozenset({"SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "IN", "BETWEEN"})

#: The daily issuance counter item written in issue's and activate's transactions (PK
#: ISSUANCE#<CURRENCY>#<DAY>, SK ISSUANCE): its builder is not in the repository yet, so its
#: attributes are stated here as the issue specifies them; run the builder once it lands.


def names_in(operation: dict[str, Any]) -> set[str]:
    """Top-level attribute names one Put/Update specifies."""
    names = set(operation.get("Item", {})) | set(operation.get("Key", {}))
    names |= set(operation.get("ExpressionAttributeNames", {}).values())
    for expression in ("UpdateExpression", "ConditionExpression"):
        for sigil, word, call in _TOKENS.findall(operation.get(expression, "")):
            if not sigil and not call and word not in _KEYWORDS:
                names.add(word)
    return names


class RecordingClient:
    """Enough of a DynamoDB client for the repository's writes; remembers what they name."""

    class exceptions:  # mirrors botocore's client.exceptions
        class ConditionalCheckFailedException(Exception):
            pass

        class TransactionCanceledException(Exception):
            pass

    def __init__(self, stored: Card) -> None:
        self.written: set[str] = set()
        self._stored = stored

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.written |= names_in(kwargs)
        return {"Attributes": Repository("t")._dump(card_item(self._stored))}

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.written |= names_in(kwargs)
        return {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        for item in TransactItems:
            for kind in ("Put", "Update"):  # a ConditionCheck writes nothing
                if kind in item:
                    self.written |= names_in(item[kind])
        return {}


CARD = Card(
    lookup="lookup",
    state=CardState.ACTIVE,
    last4="1234",
    currency="USD",
    balance=5000,
    held=100,
    version=3,
    pin_hash="hash",
    pin_failures=1,
    pin_locked_until=1,
    pin_lockouts=1,
    pin_hard_locked=True,
    pin_charge="token",
    created_at="2025-01-01T00:00:00.000000Z",
    activated_at="2025-01-01T00:00:00.000000Z",
    deactivated_at="2025-01-02T00:00:00.000000Z",
    expires_at="2030-01-01T00:00:00.000000Z",
    source="issued",
    customer_key="customer-hash",
)
RECORD = StoredRecord("IDEM#x#y", 200, b"sealed", "params", 1, 2)
ENTRY = LedgerEntry(
    lookup="lookup",
    kind="hold",
    amount=-100,
    currency="USD",
    balance_before=5000,
    balance_after=4900,
    held_before=0,
    held_after=100,
    created_at="2025-01-01T00:00:00.000000Z",
    record_pk="IDEM#x#y",
    request_id="request",
    key_id="key-1",
    store_id="store",
    instrument_id="instrument",
    actor="key-1",
    last4="1234",
)
INSTRUMENT = Instrument(
    instrument_id="instrument",
    lookup="lookup",
    currency="USD",
    authorized=100,
    captured=0,
    refunded=0,
    released=0,
    version=1,
    created_at="2025-01-01T00:00:00.000000Z",
    expires_at=2,
    account_id="account",
    last4="1234",
)


def pin_checks(repository: Repository) -> None:
    """prove_pin: the optimistic and the planned charge, a lock confirmed, a reset."""
    repository.charge_pin_guess("lookup", OPTIMISTIC_CHARGE, "token", 1, 5)
    planned = PinCharge(expect=(4, 0), failures=5, locked_until=9, lockouts=1, hard_locked=False)
    repository.charge_pin_guess("lookup", planned, "token", 1, 5)
    repository.confirm_pin_lock("lookup", "token")
    repository.settle_pin("lookup")


#: The day's issuance counter, as issue and activate commit it with their load.
COUNTER = IssuanceCharge("USD", "2027-01-15", 5000, 500000, 1)


def issue(repository: Repository) -> None:
    card = CardCreate(CARD, b"customer")
    repository.commit(Write(RECORD, card, entries=[ENTRY], issuance=COUNTER), 1)


def activate(repository: Repository) -> None:
    # As service.activate builds it: the card is updated without a read (state condition).
    update = CardUpdate(
        lookup="lookup",
        expect_states=(CardState.INACTIVE,),
        allow_missing=True,
        registration=CardRegistration(last4="1234", created_at="now"),
        state=CardState.ACTIVE,
        currency="USD",
        balance=5000,
        held=0,
        activated_at="now",
        expires_at="later",
        customer_sealed=b"customer",
        customer_key="customer-hash",
        expect_unfrozen=True,
    )
    repository.commit(Write(RECORD, update, entries=[ENTRY], issuance=COUNTER), 1)
    repository.commit(Write(RECORD, CardCheck("lookup", 3)), 1)


def deactivate(repository: Repository) -> None:
    pin_checks(repository)
    update = CardUpdate(
        lookup="lookup",
        expect_version=3,
        state=CardState.DEACTIVATED,
        balance=0,
        deactivated_at="now",
        reset_pin=True,
    )
    repository.commit(Write(RECORD, update, entries=[ENTRY]), 1)
    repository.commit(Write(RECORD, CardCheck("lookup", 3)), 1)


def redemption(*, reserve: bool) -> Callable[[Repository], None]:
    def run(repository: Repository) -> None:
        if reserve:
            pin_checks(repository)
        update = CardUpdate(lookup="lookup", expect_version=3, balance=1, held=2, reset_pin=reserve)
        created = InstrumentWrite(INSTRUMENT, expect_version=None if reserve else 1)
        repository.commit(Write(RECORD, update, created, [ENTRY]), 1, open_shards=8)
        repository.commit(Write(RECORD, CardCheck("lookup", 3)), 1)

    return run


WRITES: dict[str, tuple[Callable[[Repository], None], Iterable[str]]] = {
    "balance": (pin_checks, ()),
    "issue": (issue, ()),
    "activate": (activate, ()),
    "deactivate": (deactivate, ()),
    "instrument_create": (redemption(reserve=True), ()),
    "instrument_capture": (redemption(reserve=False), ()),
    "instrument_refund": (redemption(reserve=False), ()),
    "instrument_revoke": (redemption(reserve=False), ()),
    "reservation_expiry": (redemption(reserve=False), ()),
}


def test_every_writing_function_is_covered() -> None:
    from giftcard.routes import OPERATOR_ROUTES

    writers = {s.name for s in FUNCTIONS if set(s.table_actions) & WRITE_ACTIONS}
    operator_writers = {r for r in OPERATOR_ROUTES if r.access.writes}
    assert set(WRITES) | {r.function for r in operator_writers} == writers
    assert writers == set(WRITE_ATTRIBUTES)
    # Each operator route that writes is run by test_operator_operations_write_exactly_their_lists
    assert {r.operation.partition(":")[2] for r in operator_writers} <= set(_operator_scenarios())


@pytest.mark.parametrize("name", sorted(WRITES))
def test_role_may_write_exactly_what_the_repository_writes(name: str) -> None:
    run, extra = WRITES[name]
    client = RecordingClient(CARD)
    run(Repository("table", client=client))
    written = client.written | set(extra)
    assert written == set(write_attributes(name))


def test_balance_may_not_put_items() -> None:
    balance = next(s for s in FUNCTIONS if s.name == "balance")
    assert "dynamodb:PutItem" not in balance.table_actions


@pytest.mark.parametrize("name", sorted(WRITE_ATTRIBUTES))
def test_write_statements_carry_the_attribute_condition(synth: Synth, name: str) -> None:
    writes = [
        s
        for s in role_statements(synth, name)
        if {a for a in _as_list(s["Action"]) if a in WRITE_ACTIONS}
    ]
    assert writes, name
    for statement in writes:
        # Only write actions: a read under this condition would be limited to these attributes.
        assert set(_as_list(statement["Action"])) <= WRITE_ACTIONS
        condition = statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
        assert condition == write_attributes(name)
        assert {"PK", "SK"} <= set(condition)


def test_the_pin_role_cannot_write_money_and_redemption_cannot_write_pins() -> None:
    # The point of the lists, spelled out for the two roles most exposed to callers.
    assert not {"balance", "held", "state", "customer"} & set(write_attributes("balance"))
    assert not {"pin_failures", "pin_hash", "pin_hard_locked"} & set(
        write_attributes("instrument_capture")
    )


# The back office: each operation run on moto, its requests taken apart ------------------------

#: Each operator operation in a scenario that reaches every request it can make: (setup, body).
#: Bodies name the card as ``{number}``; setup runs before the recording starts.
_REASON = "recorded by the attribute test"


def _operator_scenarios() -> dict[str, list[dict[str, Any]]]:
    return {
        "lookup": [{"number": "{number}"}],
        "history": [{"number": "{number}"}],
        "customers_cards": [{"customer_id": "c-9"}],
        "freeze": [{"number": "{number}", "reason": _REASON}],
        "unfreeze": [{"number": "{number}", "reason": _REASON}],
        "unlock_pin": [{"number": "{number}", "reason": _REASON}],
        "expiry": [{"number": "{number}", "expires_at": None, "reason": _REASON}],
        "adjust": [
            {
                "number": "{number}",
                "amount": {"value": 1, "currency": "USD"},
                "reason": _REASON,
                "idempotency_key": "attr-1",
            },
            {  # refused against the card: a ConditionCheck with the record
                "number": "{number}",
                "amount": {"value": -100, "currency": "USD"},
                "reason": _REASON,
                "idempotency_key": "attr-2",
            },
        ],
        "customers_erase": [{"customer_id": "c-9", "reason": _REASON}],
    }


_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


@pytest.mark.parametrize("name", sorted(_operator_scenarios()))
def test_operator_operations_write_exactly_their_lists(services: Any, name: str) -> None:
    from giftcard import aws
    from giftcard.routes import OPERATOR_ROUTES
    from tests.support.calls import invoke, issue_card
    from tests.support.operator import Operator

    # Given a card with a customer, a locked PIN, an expiry, frozen (so unfreeze has work)
    number, pin = issue_card(
        50, services=services, customer={"id": "c-9", "name": "N", "email": "n@example.com"}
    )
    wrong = "0000" if pin != "0000" else "1111"
    invoke("balance", {"identifier": {"number": number, "pin": wrong}}, services=services)
    operator = Operator(services)
    operator.ok(
        "expiry", {"number": number, "expires_at": "2030-01-01T00:00:00Z", "reason": _REASON}
    )
    if name == "unfreeze":
        operator.ok("freeze", {"number": number, "reason": _REASON})
    written: set[str] = set()
    actions: set[str] = set()
    index_queries = 0

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        nonlocal index_queries
        if model.name == "TransactWriteItems":
            for item in params["TransactItems"]:
                (kind, operation), *_rest = item.items()
                actions.add(_ITEM_ACTIONS[kind])
                if kind != "ConditionCheck":
                    written.update(names_in(operation))
        elif model.name == "Query" and "IndexName" in params:
            index_queries += 1
        else:
            actions.add(f"dynamodb:{model.name}")
            if model.name in ("PutItem", "UpdateItem"):
                written.update(names_in(params))

    events = aws.client("dynamodb").meta.events
    events.register("before-parameter-build.dynamodb.*", record)
    try:
        # When the operation runs
        for body in _operator_scenarios()[name]:
            text = json.dumps(body).replace("{number}", number)
            assert operator.call(name, json.loads(text)).status in (200, 400)
    finally:
        events.unregister("before-parameter-build.dynamodb.*", record)
    # Then it wrote exactly its list, with exactly its actions
    # (its route's Access in the registry, which the stack turns into the role's policy)
    (route,) = [r for r in OPERATOR_ROUTES if r.operation == f"backoffice:{name}"]
    assert written == set(route.access.writes)
    assert actions == set(route.access.table_actions)
    assert (index_queries > 0) == route.access.query_customers
