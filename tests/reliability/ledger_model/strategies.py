"""What hypothesis draws for the rules: faults, amounts, keys, cards, instruments and PINs."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.reliability.faults import CONFLICT, LOST, THROTTLE
from tests.reliability.ledger_model.model import DIGITS, MAX_ATTEMPTS

NO_FAULT: tuple[str | None, int] = (None, 0)
faults = st.one_of(
    st.just(NO_FAULT),
    st.just(NO_FAULT),
    st.just(NO_FAULT),
    st.tuples(st.sampled_from([CONFLICT, THROTTLE]), st.integers(1, MAX_ATTEMPTS + 1)),
    st.just((LOST, 1)),
)
# Amounts: (kind, minor units, currency). Invalid kinds must be refused before any storage call.
amounts = st.one_of(
    st.tuples(st.just("ok"), st.integers(1, 10_000 * 1000), st.sampled_from(sorted(DIGITS))),
    st.tuples(st.just("ok"), st.integers(1, 10_000), st.sampled_from(sorted(DIGITS))),
    st.tuples(
        st.sampled_from(["too_big", "too_precise", "zero", "string", "unknown_currency"]),
        st.integers(1, 10_000),
        st.sampled_from(sorted(DIGITS)),
    ),
)
#: Idempotency keys: a small pool (so keys repeat), none, or any text of 1..255 characters.
keys = st.one_of(
    st.none(),
    st.sampled_from(["k1", "k2", "k3"]),
    st.text(min_size=1, max_size=40),
    st.text(st.characters(codec="utf-8"), min_size=255, max_size=255),
)
# A card to act on: a known card (by index), an unknown but valid number, or a Luhn failure.
targets = st.tuples(
    st.sampled_from(["card", "card", "card", "unknown", "broken"]), st.integers(0, 10**12)
)
spellings = st.sampled_from(["plain", "spaces", "dashes", "padded"])
#: Payment operations require a key: mostly a pool key, sometimes fresh text, rarely none.
payment_keys = st.one_of(
    st.sampled_from(["p1", "p2", "p3", "p4", "p5", "p6", None]),
    st.text(min_size=1, max_size=40),
)
# An instrument to act on: a known one (by index), an unknown id of our format, a foreign id.
instrument_targets = st.tuples(
    st.sampled_from(["known"] * 6 + ["unknown", "foreign"]), st.integers(0, 10**12)
)
# A payment amount relative to what is available: a share of it, all of it, more, or absolute.
payment_amounts = st.tuples(
    st.sampled_from(["share", "share", "all", "over", "absolute"]),
    st.integers(1, 100),
    st.integers(1, 10**6),
)
currency_choices = st.sampled_from(["same"] * 6 + ["other"])
#: Reservations mostly name a known card with the right PIN (the point is to spend cards).
reserve_pins = st.sampled_from(["right"] * 4 + ["wrong", "missing"])
reserve_targets = st.tuples(
    st.sampled_from(["card"] * 8 + ["unknown", "broken"]), st.integers(0, 10**12)
)
pin_kinds = st.sampled_from(["right", "right", "wrong", "wrong", "missing", "empty"])
