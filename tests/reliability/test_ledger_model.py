"""The ledger model test: random sequences of webhook calls against the real handlers on moto,
compared step by step with a small in-memory model of what must have happened.

Rules: issue, printed stock import, activate, deactivate, balance (right, wrong, missing PIN),
reserve, capture, refund, revoke, the expiry job, the back office (freeze, unfreeze, unlock PIN,
adjust, expiry, customer erasure, lookup), replay of an earlier idempotency key with other
parameters, waiting (lockouts end), and on every
mutation an optional injected storage fault: transaction conflicts or throttling N times (N at or
over the retry budget must give ``503 retry_error`` and no effect at all) or a lost response after
the commit (the service's retry must replay, never execute twice).

After every step (``storage_matches_model``): every card in the table is in the model and equal to
it; each card's balance + held equals the sum of its ledger entries and the entries chain; no
balance is negative; states only move forward; each ledger entry belongs to exactly one stored
idempotency record, except an operator's action that moves no money (it keeps no record, and
names its operator and reason); the table holds exactly the records the model expects (no effect
from a 503); PIN failure counters, the frozen flag, the expiry and the customer index key match
the model. Replays are compared byte for byte with the first response.

The model, the rules and the invariants live in ``tests/reliability/ledger_model/``; this file
only runs the machine in both configurations.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from tests.reliability.conftest import PROFILE, size
from tests.reliability.ledger_model.machine import LedgerMachine
from tests.support.aws import offline_aws


@pytest.fixture(scope="module")
def aws_offline() -> Iterator[None]:
    with offline_aws():
        yield


def _machine(need_activation: bool, register_unknown: bool) -> type[LedgerMachine]:
    return type(
        "LedgerMachine",
        (LedgerMachine,),
        {"need_activation": need_activation, "register_unknown": register_unknown},
    )


#: The long variant runs as 4 shards per configuration (4 x 650 = 2,600 examples each), so
#: pytest-xdist can spread them over the workers; the short one is one run of 100.
SHARDS = size(1, 4)
EXAMPLES_PER_SHARD = size(100, 650)


@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.parametrize(
    ("need_activation", "register_unknown"),
    [(False, False), (True, True)],
    ids=["defaults", "activation-required+unknown-registered"],
)
def test_ledger_matches_model(
    aws_offline: None,
    need_activation: bool,
    register_unknown: bool,
    shard: int,
) -> None:
    # Given a fresh table per example, when random webhook sequences (with injected storage
    # faults) run, then storage equals the model after every step.
    machine = _machine(need_activation, register_unknown)
    run_state_machine_as_test(
        machine,
        settings=settings(
            PROFILE, max_examples=EXAMPLES_PER_SHARD, stateful_step_count=size(20, 25)
        ),
    )
