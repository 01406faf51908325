"""Key material: HMAC lookups and PIN hashes, AES-GCM sealing bound to its record, and the
constant-time comparison of PINs."""

from __future__ import annotations

import hmac
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from giftcard import keys
from giftcard.errors import RetryError
from giftcard.keys import KeyMaterial, idempotency_key_hash

MASTER = "unit-test-master-key-material-0123456789abcdef"
OTHER = "another-master-key-material-0123456789abcdef!!"


@pytest.fixture(scope="module")
def material() -> KeyMaterial:
    return KeyMaterial.from_master(MASTER)


def test_short_master_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^key material secret is too short$"):
        KeyMaterial.from_master("x" * 31)
    assert len(KeyMaterial.from_master("x" * 32).lookup_key) == 32  # 32 is enough


def test_each_purpose_has_its_own_key(material: KeyMaterial) -> None:
    derived = {
        material.lookup_key,
        material.pin_key,
        material.params_key,
        material.sealing_key,
        material.instrument_key,
    }
    assert len(derived) == 5
    assert all(len(key) == 32 for key in derived)
    assert MASTER.encode() not in derived


def test_lookup_is_deterministic_secret_and_hides_the_number(material: KeyMaterial) -> None:
    number = "7777001234567897"
    lookup = material.card_lookup(number)
    assert lookup == KeyMaterial.from_master(MASTER).card_lookup(number)
    assert lookup != KeyMaterial.from_master(OTHER).card_lookup(number)
    assert lookup != material.card_lookup("7777001234567889")
    assert number not in lookup
    assert len(lookup) == 64


def test_pin_hash_binds_the_card(material: KeyMaterial) -> None:
    a, b = material.card_lookup("7777000000000001"), material.card_lookup("7777000000000019")
    assert material.pin_hash(a, "4125") != material.pin_hash(b, "4125")
    assert material.pin_hash(a, "4125") != material.pin_hash(a, "4126")
    assert "4125" not in material.pin_hash(a, "4125")
    assert material.pin_matches(material.pin_hash(a, "4125"), a, "4125")
    assert not material.pin_matches(material.pin_hash(a, "4125"), a, "41250")
    assert not material.pin_matches(material.pin_hash(a, "4125"), b, "4125")


def test_pin_comparison_is_constant_time(
    material: KeyMaterial, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    lookup = material.card_lookup("7777000000000001")
    stored = material.pin_hash(lookup, "1111")
    assert not material.pin_matches(stored, lookup, "2222")
    assert material.pin_matches(stored, lookup, "1111")
    assert len(calls) == 2


def test_seal_round_trips_and_is_randomized(material: KeyMaterial) -> None:
    body = '{"identifier": {"number": "7777001234567897", "pin": "4125"}}'
    first, second = material.seal(body, "IDEM#issue#a"), material.seal(body, "IDEM#issue#a")
    assert first != second  # fresh nonce every time
    assert material.unseal(first, "IDEM#issue#a") == body
    assert material.unseal(second, "IDEM#issue#a") == body
    assert b"7777001234567897" not in first
    assert b"identifier" not in first


def test_repetitive_bodies_are_stored_deflated(material: KeyMaterial) -> None:
    # Given a payment answer that echoes the same metadata in each of its transactions
    metadata = '{"store_id": "store-berlin-1", "register": "till-7", "associate": "a-1"}'
    body = "[" + ", ".join([metadata] * 8) + "]"
    # When it is sealed
    sealed = material.seal(body, "IDEM#x")
    # Then it takes far less room than the text, and comes back exactly
    assert len(sealed) < len(body) // 2
    assert material.unseal(sealed, "IDEM#x") == body


def test_short_bodies_round_trip_unchanged(material: KeyMaterial) -> None:
    for text in ("", "{}", '{"value": 25.5, "currency": "USD"}', "é"):
        assert material.unseal(material.seal(text, "IDEM#y"), "IDEM#y") == text


def test_tampered_ciphertext_is_detected(material: KeyMaterial) -> None:
    sealed = bytearray(material.seal("secret body", "ctx"))
    for position in (0, 12, len(sealed) - 1):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(InvalidTag):
            material.unseal(bytes(tampered), "ctx")
    with pytest.raises(InvalidTag):
        material.unseal(bytes(sealed[:-1]), "ctx")


def test_sealed_body_is_bound_to_its_record(material: KeyMaterial) -> None:
    sealed = material.seal("replay me", "IDEM#issue#one")
    with pytest.raises(InvalidTag):
        material.unseal(sealed, "IDEM#issue#two")
    with pytest.raises(InvalidTag):
        KeyMaterial.from_master(OTHER).unseal(sealed, "IDEM#issue#one")


def test_idempotency_key_hash_is_scoped_per_endpoint() -> None:
    assert idempotency_key_hash("issue", "k") == idempotency_key_hash("issue", "k")
    assert idempotency_key_hash("issue", "k") != idempotency_key_hash("activate", "k")
    assert idempotency_key_hash("issue", "k") != idempotency_key_hash("issue", "k2")
    assert "k" * 40 not in idempotency_key_hash("issue", "k" * 40)


def test_client_keys_cannot_reach_internal_record_keys() -> None:
    # The same text as a client key and as the service's own key: two records
    for text in ("request:abc", "abc", "expiry:X:1"):
        client = idempotency_key_hash("issue", text)
        assert client != idempotency_key_hash("issue", text, origin=keys.INTERNAL)
    # A client key cannot smuggle in the internal prefix or another endpoint through newlines
    internal = idempotency_key_hash("issue", "abc", origin=keys.INTERNAL)
    for forged in ("internal\nissue\nabc", "\ninternal\nissue\nabc", "issue\nabc"):
        for endpoint in ("issue", "internal", ""):
            assert idempotency_key_hash(endpoint, forged) != internal
    # a caller's mistake says what it got (the traceback is all a developer sees of it)
    with pytest.raises(ValueError, match="unknown idempotency key origin: 'other'"):
        idempotency_key_hash("issue", "abc", origin="other")


def test_params_hash_depends_on_the_request(material: KeyMaterial) -> None:
    assert material.params_hash("a") == material.params_hash("a")
    assert material.params_hash("a") != material.params_hash("b")


def test_secret_without_master_is_retry_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys.secrets, "get", lambda secret_id, max_age: {"other": "x"})
    with pytest.raises(RetryError):
        keys.key_material("whatever", 60)


def test_key_material_is_derived_once_per_master(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys.secrets, "get", lambda secret_id, max_age: {"master": MASTER})
    assert keys.key_material("s", 60) is keys.key_material("s", 60)


def test_key_material_comes_from_the_named_secret_and_cache_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a cold process (nothing derived yet)
    monkeypatch.setattr(keys, "_material", {})
    reads: list[tuple[str, int]] = []

    def get(secret_id: str, max_age: int) -> Any:
        reads.append((secret_id, max_age))
        return {"master": OTHER}

    monkeypatch.setattr(keys.secrets, "get", get)
    # When the key material is asked for, twice
    first = keys.key_material("team/key-material", 45)
    second = keys.key_material("team/key-material", 45)
    # Then it was read from that secret with that cache time, and is the master's material
    assert reads == [("team/key-material", 45)] * 2
    assert first is second
    assert first == KeyMaterial.from_master(OTHER)


@pytest.mark.parametrize("value", [[{"master": MASTER}], MASTER, None, {"master": 7}])
def test_key_material_secret_of_another_shape_is_retry_error(
    monkeypatch: pytest.MonkeyPatch, value: Any
) -> None:
    monkeypatch.setattr(keys.secrets, "get", lambda secret_id, max_age: value)
    with pytest.raises(RetryError):
        keys.key_material("whatever", 60)


# The secret cache on a cold start (Secrets Manager on moto) ------------------------------------


def test_a_fresh_secret_cache_reads_with_the_services_client(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cold start builds a new SecretCache: its first read must work without a prior clear(),
    # through the service's client (its timeouts and retries), not a default one.
    from giftcard import aws as service_aws
    from tests.support.aws import KEYS_SECRET
    from tests.support.aws import MASTER as STACK_MASTER

    built: list[str] = []
    real_client = service_aws.client

    def client(service: str) -> Any:
        built.append(service)
        return real_client(service)

    monkeypatch.setattr(service_aws, "client", client)
    assert keys.SecretCache().get(KEYS_SECRET, 60) == {"master": STACK_MASTER}
    assert built == ["secretsmanager"]


def test_secret_values_are_cached_for_max_age_only(aws: None) -> None:
    import boto3

    from tests.support.aws import KEYS_SECRET

    def rotate(master: str) -> None:
        boto3.client("secretsmanager").put_secret_value(
            SecretId=KEYS_SECRET, SecretString=f'{{"master": "{master}"}}'
        )

    cached, uncached = keys.SecretCache(), keys.SecretCache()
    first = cached.get(KEYS_SECRET, 60)
    assert uncached.get(KEYS_SECRET, 0) == first
    rotate("rotated-once")
    assert cached.get(KEYS_SECRET, 60) == first  # within max_age: the cached value
    assert uncached.get(KEYS_SECRET, 0) == {"master": "rotated-once"}  # 0: read every time


# Instrument ids ---------------------------------------------------------------------------------

LOOKUP = "ab" * 32


def test_an_instrument_id_leads_back_to_its_card(material: KeyMaterial) -> None:
    # Given an instrument id made for a card, when the service reads it back
    instrument_id = material.new_instrument_id(LOOKUP)
    # Then it is 80 URL-safe characters and names that card
    assert len(instrument_id) == 80
    assert instrument_id.isascii() and all(c.isalnum() or c in "-_" for c in instrument_id)
    assert material.instrument_card(instrument_id) == LOOKUP


def test_instrument_ids_of_one_card_cannot_be_linked(material: KeyMaterial) -> None:
    # Two instruments of the same card share nothing a reader could match on
    first, second = material.new_instrument_id(LOOKUP), material.new_instrument_id(LOOKUP)
    assert first != second
    assert LOOKUP not in first and "ab" * 4 not in first
    shared_prefix = next(i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b)
    assert shared_prefix < 4


def test_an_altered_or_foreign_instrument_id_is_not_ours(material: KeyMaterial) -> None:
    instrument_id = material.new_instrument_id(LOOKUP)
    # every single-character change is detected (the id is authenticated)
    for index in (0, 20, 40, 79):
        swapped = "B" if instrument_id[index] != "B" else "C"
        altered = instrument_id[:index] + swapped + instrument_id[index + 1 :]
        assert material.instrument_card(altered) is None
    # made with other key material (another deployment), or not shaped like ours at all
    assert KeyMaterial.from_master(OTHER).instrument_card(instrument_id) is None
    for other in [
        "",
        "A" * 80,
        instrument_id[:-1],
        instrument_id + "A",
        instrument_id[:-1] + "=",
        instrument_id[:-2] + "\n",
        "0" * 32,
        "../" * 27,
    ]:
        assert material.instrument_card(other) is None
