"""Known answers: every output that is stored or shared, pinned to its exact value.

The other key tests check properties (distinct, deterministic, 32 bytes); a renamed HKDF label
or a changed hash input keeps every property and still makes each stored card lookup, PIN hash,
sealed body and instrument id unreadable after the next deploy. These values were computed
once and must NEVER be regenerated to make a test pass: a failure here means stored data would
be lost. A deliberate format change adds a new version (``.../v2``) next to the old one, with
its own known answers, and a migration.

Not yet pinned (they do not exist yet): the event schemas and the ``card_id`` format.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from giftcard import keys
from giftcard.auth import authorize
from giftcard.keys import INTERNAL, KeyMaterial, idempotency_key_hash
from giftcard.settings import Settings

#: A test-only master (never deployed); the fixture file was sealed with it.
MASTER = "known-answer-master-do-not-change-0123456789abcdef"
NUMBER = "7777001234567897"
PIN = "4125"
FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "known_answers.json").read_text())


@pytest.fixture(scope="module")
def material() -> KeyMaterial:
    return KeyMaterial.from_master(MASTER)


# Derived keys: one per purpose, each label part of the stored format

DERIVED_KEYS = {
    "lookup_key": "f8e11fc78042241f4fd926b3b3cf500cd0feee3461868e8aa4f4d33fed78125d",
    "pin_key": "0ab3439e15be1dc9cdd9b2b38a11a7fd6d83e4455badc1b172513a33c858c4f1",
    "params_key": "7c507f7ece1d26ea4324d840b36ea8014308e1e488657cc84ef869b3de3836d1",
    "sealing_key": "dabd04e75b46f69f882a80ac20289c30774b634cc91cf90f7a6a6fc5154ce310",
    "instrument_key": "301a21ee8f2df1b43c01b328290a51bcb69f3cd1d295f96a7f016937551c1941",
    "customer_index_key": "240d660b507bf4dfb1c13d2e9a0927ab1af4fa7ecc03f998bb3372f88a3ca2bd",
}


def test_every_derived_key_is_the_one_stored_data_was_written_with(
    material: KeyMaterial,
) -> None:
    # A new purpose must be added here too (the comparison covers every field).
    derived = {name: value.hex() for name, value in vars(material).items()}
    assert derived == DERIVED_KEYS


# Card lookup, PIN hash, request hashes ------------------------------------------------------------


def test_customer_index_key_of_a_known_customer(material: KeyMaterial) -> None:
    # Cards are found by customer (and erased) through this hash: a change loses the index.
    assert material.customer_hash("64810476") == (
        "88e078d262107a2e02a4710684259e76968ce9e5ce2589e618bc0759a793c028"
    )


def test_card_lookup_and_pin_hash_of_a_known_card(material: KeyMaterial) -> None:
    # Cards are found by this lookup and PINs checked against this hash: a change loses them all.
    lookup = material.card_lookup(NUMBER)
    assert lookup == "06e1ad84501e6304827cef27e0673d6aefbeced45f5d7c1e97fe2ca601c27c8a"
    assert material.pin_hash(lookup, PIN) == (
        "efc0161ef899a2583d391cd0dee1a35e1581d1442e210185d004df30c8a5700a"
    )
    assert material.pin_matches(
        "efc0161ef899a2583d391cd0dee1a35e1581d1442e210185d004df30c8a5700a", lookup, PIN
    )


def test_idempotency_hashes_of_a_known_request(material: KeyMaterial) -> None:
    # Stored idempotency records are keyed and compared by these: a change within the retention
    # window turns every retry into a new operation (a second charge).
    # (Set once when client and internal keys were given their own namespaces, before any
    # deployment: issue 11. Never again casually.)
    assert idempotency_key_hash("issue", "order-1001") == (
        "d7c42a8874af441b4d86584fe0d62dfe1c4638bf06347e2b41e655d0d66d0bc3"
    )
    assert idempotency_key_hash("issue", "order-1001", origin=INTERNAL) == (
        "b354b36130cf84fb7424eb472fe93e0fda01da5b46243de592a2572bed3bffc6"
    )
    assert material.params_hash('{"amount": 25}') == (
        "1fcdc0859bf00cbffe66f0ae20550706a9eaf4418dbfd8e926c4c9a34789f87c"
    )


# Sealed bodies and instrument ids written by an earlier version


@pytest.mark.parametrize("name", ["sealed_raw", "sealed_deflated"])
def test_a_sealed_body_written_earlier_still_opens(material: KeyMaterial, name: str) -> None:
    fixture = FIXTURES[name]
    sealed = base64.b64decode(fixture["sealed"])
    assert material.unseal(sealed, fixture["context"]) == fixture["plaintext"]


def test_an_instrument_id_minted_earlier_still_leads_to_its_card(material: KeyMaterial) -> None:
    # NewStore holds these ids for the life of an order; they must keep naming the card.
    fixture = FIXTURES["instrument"]
    assert fixture["lookup"] == material.card_lookup(NUMBER)
    assert material.instrument_card(fixture["instrument_id"]) == fixture["lookup"]


def _stored_payload(material: KeyMaterial, sealed: bytes, context: str) -> bytes:
    """What the sealed bytes carry: a format marker, then the text raw or deflated."""
    return AESGCM(material.sealing_key).decrypt(sealed[:12], sealed[12:], context.encode())


def test_new_sealed_bodies_use_the_stored_format(material: KeyMaterial) -> None:
    # nonce (12) + AES-GCM of marker + text + tag (16); 0x00 raw, 0x01 deflated
    short = '{"value": 25.5, "currency": "USD"}'
    sealed = material.seal(short, "IDEM#a")
    assert len(sealed) == 12 + 1 + len(short) + 16
    assert _stored_payload(material, sealed, "IDEM#a") == b"\x00" + short.encode()
    long = FIXTURES["sealed_deflated"]["plaintext"]
    payload = _stored_payload(material, material.seal(long, "IDEM#b"), "IDEM#b")
    assert payload[:1] == b"\x01"
    assert zlib.decompress(payload[1:]).decode() == long


@pytest.mark.parametrize(
    ("text", "deflate_gain", "deflated"),
    [
        pytest.param("ab" * 5 + "a", -1, False, id="deflated-one-longer"),
        pytest.param("ab" * 6, 0, False, id="deflated-as-long"),
        pytest.param("ab" * 6 + "a", 1, True, id="deflated-one-shorter"),
    ],
)
def test_a_body_is_deflated_only_when_that_makes_it_shorter(
    material: KeyMaterial, text: str, deflate_gain: int, deflated: bool
) -> None:
    packed = zlib.compress(text.encode(), 6)
    assert len(text) - len(packed) == deflate_gain  # the premise: texts at the boundary
    payload = _stored_payload(material, material.seal(text, "IDEM#c"), "IDEM#c")
    assert payload == (b"\x01" + packed if deflated else b"\x00" + text.encode())


# The authorizer's answer --------------------------------------------------------------------------


def test_the_authorizers_whole_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # API Gateway reads this document as is: the policy language version, the grant and the
    # ledger's key id. Any change to it is a change of who may call the API.
    key = "known-answer-api-key-0123456789"
    monkeypatch.setattr(keys.secrets, "get", lambda secret_id, max_age: {"keys": [{"key": key}]})
    event: dict[str, Any] = {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:eu-central-1:123456789012:a1b2c3d4e5/live/POST/x/y",
        "headers": {"Authorization": f"Bearer {key}"},
    }
    assert authorize(event, Settings()) == {
        "principalId": "key-1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": "arn:aws:execute-api:eu-central-1:123456789012:a1b2c3d4e5/live/*/*",
                }
            ],
        },
        "context": {"key_id": "key-1"},
    }
