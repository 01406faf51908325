"""Concurrency over real HTTP against the local run (threads, loopback only, bounded).

The local run serves the real authorizer and handlers from a threaded HTTP server; moto answers
one storage call at a time, like DynamoDB applies each call atomically, so the races here are the
service's own: read-decide-write sequences interleaving between requests.

- 16 identical issue requests (one idempotence key) -> one card, 16 identical bodies.
- 10 activations of one printed card with different keys -> exactly one 200.
- activate racing deactivate -> the outcome of one of the two serial orders, exactly.
- 16 wrong PINs at once -> no more failures counted than the lockout allows; locked afterwards,
  even the right PIN is refused.
- Redemption: 16 reservations of 10 on a card holding 100 -> exactly 10 succeed, spendable 0;
  concurrent captures never take more than was reserved.
None of them gets a 503: retries are sized so every request gets its business answer.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from giftcard.cards import CardState
from giftcard.stock import import_stock
from tests.reliability.conftest import size
from tests.reliability.http_support import Client, Store, error_code, service_log_records, together
from tests.support.calls import SECRETS, card_number
from tests.support.local_server import LocalApi

_numbers = itertools.count(1)


@pytest.fixture
def client(api: LocalApi) -> Client:
    return Client(api)


@pytest.fixture
def store(api: LocalApi) -> Store:
    return Store(api)


def stock(store: Store, count: int = 1, pin: str | None = None) -> list[str]:
    """Fresh printed stock cards (inactive) in the local run's table."""
    numbers = [card_number(700_000 + next(_numbers), prefix="6000") for _ in range(count)]
    for number in numbers:
        SECRETS.add_card(number, pin)
    report = import_stock(
        ["number,pin"] + [f"{number},{pin or ''}" for number in numbers],
        store.repository,
        store.keys,
        workers=1,
    )
    assert report.created == count
    return numbers


def issue(client: Client, value: int = 100, currency: str = "USD") -> tuple[str, str]:
    status, body = client.json(
        "/gift_card/issue",
        {"amount": {"value": value, "currency": currency}, "customer": {"id": "c-1"}},
    )
    assert status == 200
    return body["identifier"]["number"], body["identifier"]["pin"]


@pytest.mark.parametrize("repeat", range(size(1, 5)))
def test_identical_issue_requests_make_one_card_and_identical_answers(
    repeat: int, client: Client, store: Store
) -> None:
    # Given 16 copies of one issue request (same idempotence key), as a retrying client sends
    cards_before = store.count("card")
    body = {
        "amount": {"value": Decimal("25.5"), "currency": "EUR"},
        "customer": {"email": "jay@example.com"},
        "idempotence_key": f"double-tap-issue-{repeat}",
    }
    # When they arrive at the same time
    answers = together(16, lambda _: client.post("/gift_card/issue", body))
    # Then all 16 get 200 and the very same bytes, and exactly one card exists
    statuses = Counter(status for status, _, _ in answers)
    assert statuses == Counter({200: 16})
    distinct = len({raw for _, _, raw in answers})
    assert distinct == 1, "concurrent replays differ"
    assert store.count("card") == cards_before + 1
    number = json.loads(answers[0][2])["identifier"]["number"]
    card = store.assert_ledger_matches(number)
    assert (card.balance, len(store.ledger(number))) == (2550, 1)


@pytest.mark.parametrize("repeat", range(size(1, 5)))
def test_concurrent_activations_with_different_keys_activate_once(
    repeat: int, client: Client, store: Store
) -> None:
    # Given one printed card
    (number,) = stock(store)

    def activate(index: int) -> tuple[int, dict[str, str], bytes]:
        return client.post(
            "/gift_card/activate",
            {
                "card_number": number,
                "amount": {"value": 10 + index, "currency": "USD"},
                "idempotence_key": f"activation-{repeat}-{index}",
            },
        )

    # When 10 activations with different keys and amounts arrive at once
    answers = together(10, activate)
    # Then exactly one activates it, the nine others are told it is already active
    codes = Counter("ok" if status == 200 else error_code(raw) for status, _, raw in answers)
    assert codes == Counter({"ok": 1, "card_already_active": 9})
    winner = next(index for index, (status, _, _) in enumerate(answers) if status == 200)
    # And the card holds the winner's amount, loaded once
    card = store.assert_ledger_matches(number)
    assert (card.state, card.balance, len(store.ledger(number))) == (
        CardState.ACTIVE,
        (10 + winner) * 100,
        1,
    )
    # And every loser's answer is stored under its key: a retry gets the same refusal
    status, _, raw = activate((winner + 1) % 10)
    assert (status, error_code(raw)) == (400, "card_already_active")


def test_activate_racing_deactivate_ends_as_one_serial_order(client: Client, store: Store) -> None:
    rounds = size(6, 40)
    orders: Counter[str] = Counter()
    for number in stock(store, rounds):
        # Given an inactive printed card; when an activation and a deactivation arrive at once
        def send(index: int, number: str = number) -> tuple[int, dict[str, str], bytes]:
            if index == 0:
                return client.post(
                    "/gift_card/activate",
                    {"card_number": number, "amount": {"value": 40, "currency": "USD"}},
                )
            return client.post("/gift_card/deactivate", {"card_number": number})

        (act_status, _, act_raw), (deact_status, _, _) = together(2, send)
        card = store.assert_ledger_matches(number)
        kinds = [(entry.kind, entry.amount) for entry in sorted(store.ledger(number), key=_sk)]
        # Then the answers, the final card and its ledger are those of one serial order
        assert deact_status == 200 and card.state is CardState.DEACTIVATED
        assert card.balance == 0
        if act_status == 200:
            orders["activate, then deactivate"] += 1
            assert kinds == [("activate", 4000), ("deactivate_void", -4000)]
        else:
            orders["deactivate, then activate"] += 1
            assert (act_status, error_code(act_raw)) == (400, "card_deactivated")
            assert kinds == [("deactivate_void", 0)]
    assert sum(orders.values()) == rounds


def _sk(entry: Any) -> str:
    return str(entry.sk)


@pytest.mark.parametrize("repeat", range(size(1, 5)))
def test_concurrent_wrong_pins_never_count_past_the_lockout(
    repeat: int, api: LocalApi, client: Client, store: Store
) -> None:
    # Given an issued card with a PIN (lockout after 5 wrong PINs, for 15 minutes)
    number, pin = issue(client)
    wrong = [f"{(int(pin) + 1 + offset) % 10000:04d}" for offset in range(16)]
    SECRETS.add_card(None, pin)
    output_before = len(api.output())

    # When 16 different wrong PINs arrive at once
    answers = together(
        16,
        lambda index: client.post(
            "/gift_card/balance", {"identifier": {"number": number, "pin": wrong[index]}}
        ),
    )
    # Then every one is refused with the one invalid_card answer, none with a 503
    codes = Counter((status, error_code(raw)) for status, _, raw in answers)
    assert codes == Counter({(400, "invalid_card"): 16})
    # And exactly 5 guesses were counted: the 5th locked the card (one lockout), the other 11
    # were refused by the lock without counting. (Counted from the handlers' log records: the
    # metrics buffer is per process, and the local run serves requests on threads.)
    card = store.card(number)
    assert card.locked(int(time.time())) and card.pin_failures == 5
    deadline = time.monotonic() + 5
    while True:
        records = service_log_records(api.output()[output_before:])
        answered = [r for r in records if r.get("message") == "request answered"]
        if len(answered) >= 16 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    met_the_lock = [r for r in records if r.get("message") == "pin check refused: locked"]
    lockouts = [
        r for r in records if r.get("message") == "pin checks locked after repeated failures"
    ]
    assert len(answered) == 16
    assert (16 - len(met_the_lock), len(lockouts)) == (5, 1), (
        "more (or fewer) wrong PINs counted than the lockout allows"
    )
    # And while locked, even the right PIN is refused with the same answer
    status, _, raw = client.post(
        "/gift_card/balance", {"identifier": {"number": number, "pin": pin}}
    )
    assert (status, error_code(raw)) == (400, "invalid_card")


BURST = 100


def _burst_body(endpoint: str, number: str, pin: str, index: int) -> dict[str, Any]:
    if endpoint == "/gift_card/balance":
        return {"identifier": {"number": number, "pin": pin}}
    if endpoint == "/gift_card/deactivate":
        return {"card_number": number, "pin": pin, "idempotence_key": f"burst-{index}"}
    return {
        "idempotency_key": f"burst-{number[-6:]}-{index}",
        "instrument": {"number": number, "pin": pin},
        "amount": 10,
        "currency": "USD",
    }


@pytest.mark.parametrize(
    "endpoint", ["/gift_card/balance", "/gift_card/deactivate", "/financial_instruments"]
)
@pytest.mark.parametrize("repeat", range(size(1, 3)))
def test_a_burst_of_guesses_reveals_the_pin_only_within_the_first_five_counted(
    repeat: int, endpoint: str, api: LocalApi, client: Client, store: Store
) -> None:
    # Given an issued card with a PIN (5 guesses per lock window)
    number, pin = issue(client)
    SECRETS.add_card(None, pin)
    guesses = [f"{(int(pin) + 1 + offset) % 10000:04d}" for offset in range(BURST)]
    right_at = (repeat * 37 + 50) % BURST
    guesses[right_at] = pin  # the right PIN among them, sent at once with the others
    output_before = len(api.output())

    # When 100 requests, each with another PIN, arrive at once
    answers = together(
        BURST,
        lambda index: client.post(endpoint, _burst_body(endpoint, number, guesses[index], index)),
    )
    # Then none gets a 503, and only the right PIN can have been accepted
    accepted = [index for index, (status, _, _) in enumerate(answers) if status == 200]
    refused = Counter(error_code(raw) for status, _, raw in answers if status != 200)
    assert accepted in ([], [right_at])
    wanted = "instrument_error" if endpoint == "/financial_instruments" else "invalid_card"
    assert refused == Counter({wanted: BURST - len(accepted)})
    # And only a handful were compared at all: the others met the lock without a comparison.
    # Without a right PIN that is exactly the 5 of one window; a right PIN among the first 5
    # resets the window (the contract's "a correct PIN resets the counter"), so at most 4 wrong
    # guesses before it and 5 after it.
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        records = service_log_records(api.output()[output_before:])
        if sum(r.get("message") == "request answered" for r in records) >= BURST:
            break
        time.sleep(0.05)
    met_the_lock = sum(r.get("message") == "pin check refused: locked" for r in records)
    compared = BURST - met_the_lock
    if accepted:
        assert compared <= 10, f"{compared} PINs compared in a burst (window: 5)"
    else:
        assert compared == 5, f"{compared} PINs compared in a burst (window: 5)"
        # the card is locked: the right PIN now gets the one refusal too
        status, _, raw = client.post(endpoint, _burst_body(endpoint, number, pin, BURST))
        assert (status, error_code(raw)) == (400, wanted)


# Redemption ------------------------------------------------------------------------------------


def test_concurrent_reservations_never_overdraw_the_card(client: Client, store: Store) -> None:
    for _card in range(size(1, 4)):
        # Given a card holding 100
        number, pin = issue(client, 100)

        # When 16 reservations of 10 arrive at once
        def reserve(index: int, number: str = number, pin: str = pin) -> tuple[int, Any]:
            return client.json(
                "/financial_instruments",
                {
                    "idempotency_key": f"reserve-{number[-6:]}-{index}",
                    "instrument": {"number": number, "pin": pin},
                    "amount": 10,
                    "currency": "USD",
                },
            )

        answers = together(16, reserve)
        # Then exactly 10 succeed and 6 are refused for lack of funds; none gets a 503
        outcomes = Counter(
            "reserved" if status == 200 else body["error_code"] for status, body in answers
        )
        assert outcomes == Counter({"reserved": 10, "instrument_error": 6})
        # And the card's spendable balance is 0, all 100 held, the ledger agrees
        card = store.assert_ledger_matches(number)
        assert (card.balance, card.held) == (0, 10000)
        status, body = client.json(
            "/gift_card/balance", {"identifier": {"number": number, "pin": pin}}
        )
        assert (status, body) == (200, {"value": 0, "currency": "USD"})


@pytest.mark.parametrize("repeat", range(size(1, 5)))
def test_concurrent_captures_never_exceed_the_reservation(
    repeat: int, client: Client, store: Store
) -> None:
    # Given a reservation of 10 on a card holding 50
    number, pin = issue(client, 50)
    status, reserved = client.json(
        "/financial_instruments",
        {
            "idempotency_key": f"reserve-for-captures-{repeat}",
            "instrument": {"number": number, "pin": pin},
            "amount": 10,
            "currency": "USD",
        },
    )
    assert status == 200
    instrument = reserved["identifier"]

    # When 8 captures of 3 (different keys) arrive at once
    answers = together(
        8,
        lambda index: client.json(
            f"/financial_instruments/{instrument}/capture",
            {"idempotency_key": f"capture-{repeat}-{index}", "amount": 3, "currency": "USD"},
        ),
    )
    # Then exactly 3 succeed (9 of the 10 reserved) and 5 are refused as over-capture
    outcomes = Counter(
        "captured" if status == 200 else body["error_code"] for status, body in answers
    )
    assert outcomes == Counter({"captured": 3, "failed_command": 5})
    # And the card lost exactly what was captured; 1 is still held
    card = store.assert_ledger_matches(number)
    assert (card.balance, card.held) == (4000, 100)
    # And concurrent captures of the remaining 1 with a revoke: one of them gets it, not both
    answers = together(
        2,
        lambda index: client.json(
            f"/financial_instruments/{instrument}/{'capture' if index == 0 else 'revoke'}",
            {"idempotency_key": f"last-{repeat}", "amount": 1, "currency": "USD"},
        ),
    )
    assert sorted(status for status, _ in answers) == [200, 400]
    card = store.assert_ledger_matches(number)
    assert card.held == 0 and card.balance in (4000, 4100)
