"""POST /gift_card/issue through lambda_handler: the issued card, the amount rules shared by
issue and activate (invalid_request / amount_out_of_range), and the "issued cards need
activation" deployment flag."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from giftcard.cards import luhn_valid
from tests.support.calls import invoke, issue_card

pytestmark = pytest.mark.usefixtures("ledger_checked")

CUSTOMER = {"id": "64810476", "email": "jay@example.com", "name": "Jay Doubleyou"}


def issue_body(value: Any = 50, currency: str = "USD", **fields: Any) -> dict[str, Any]:
    """An issue request; a string ``value`` is sent as that JSON number literal."""
    if isinstance(value, str):
        value = Decimal(value)
    return {"amount": {"value": value, "currency": currency}, "customer": CUSTOMER, **fields}


def cards_in_table(repository: Any) -> list[dict[str, Any]]:
    return [item for item in repository.scan_all() if item.get("type") == "card"]


def balance_of(services: Any, number: str, pin: str) -> Any:
    return invoke("balance", {"identifier": {"number": number, "pin": pin}}, services=services)


# The issued card --------------------------------------------------------------------------------


def test_issue_answers_a_new_number_and_pin_with_the_amount(services: Any) -> None:
    # When a card is issued for 50 USD
    answer = invoke(
        "issue",
        issue_body(metadata={"original_operation": "refund", "store_id": "store-berlin-1"}),
        services=services,
    )
    # Then the body is exactly identifier (number, PIN) and amount
    assert answer.status == 200
    number = answer.json["identifier"]["number"]
    pin = answer.json["identifier"]["pin"]
    assert answer.body == (
        '{"identifier": {"number": "' + number + '", "pin": "' + pin + '"}, '
        '"amount": {"value": 50, "currency": "USD"}}'
    )
    # And the number has the default prefix and length and a valid check digit
    assert re.fullmatch(r"7777[0-9]{12}", number)
    assert luhn_valid(number)
    assert re.fullmatch(r"[0-9]{4}", pin)


def test_issued_card_is_active_and_funded_with_one_ledger_entry(
    services: Any, repository: Any
) -> None:
    number, pin = issue_card("25.5", services=services)
    answer = balance_of(services, number, pin)
    assert (answer.status, answer.body) == (200, '{"value": 25.5, "currency": "USD"}')
    [card] = cards_in_table(repository)
    [entry] = repository.ledger(card["PK"].removeprefix("CARD#"))
    assert (entry.kind, entry.amount, entry.balance_before, entry.balance_after) == (
        "issue",
        2550,
        0,
        2550,
    )


def test_every_issue_draws_a_different_number(services: Any) -> None:
    numbers = {issue_card(services=services)[0] for _ in range(5)}
    assert len(numbers) == 5


@pytest.mark.parametrize(
    "env", [{"CARD_NUMBER_PREFIX": "603571", "CARD_NUMBER_LENGTH": "19", "PIN_LENGTH": "6"}]
)
def test_number_prefix_and_length_and_pin_length_are_configurable(services: Any) -> None:
    number, pin = issue_card(services=services)
    assert re.fullmatch(r"603571[0-9]{13}", number)
    assert luhn_valid(number)
    assert re.fullmatch(r"[0-9]{6}", pin)
    assert balance_of(services, number, pin).status == 200


def test_issue_amount_is_written_without_trailing_noise(services: Any) -> None:
    raw = '{"amount": {"value": 25.50, "currency": "USD"}, "customer": {}}'
    answer = invoke("issue", raw=raw, services=services)
    assert answer.status == 200
    assert answer.body.endswith('"amount": {"value": 25.5, "currency": "USD"}}')


def test_key_id_of_the_api_key_reaches_the_ledger_entry(services: Any, repository: Any) -> None:
    # Given the authorizer identified the caller's key as "key-rotated-2"
    answer = invoke("issue", issue_body(), services=services, key_id="key-rotated-2")
    assert answer.status == 200
    # Then the ledger entry records which key moved the money
    [card] = cards_in_table(repository)
    [entry] = repository.ledger(card["PK"].removeprefix("CARD#"))
    assert entry.key_id == "key-rotated-2"


# Forward compatibility ----------------------------------------------------------------------------


def test_unknown_fields_anywhere_are_ignored(services: Any) -> None:
    body = {
        "amount": {"value": 10, "currency": "USD", "precision": 2},
        "customer": {**CUSTOMER, "loyalty": {"tier": "gold"}, "phone": "+49 30 1234"},
        "metadata": {"original_operation": "refund", "store_id": "s", "order": {"id": 1}},
        "idempotence_key": "k-unknown-fields",
        "channel": "pos",
        "v2": {"anything": [1, 2, {"deep": None}]},
    }
    answer = invoke("issue", body, services=services)
    assert answer.status == 200
    assert answer.json["amount"] == {"value": 10, "currency": "USD"}


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"store_id": 123},
        {"store_id": None, "original_operation": ["refund"]},
        {"free": {"form": {"nested": [1, "two", 3.5]}}},
    ],
)
def test_metadata_is_free_form(services: Any, metadata: dict[str, Any]) -> None:
    assert invoke("issue", issue_body(metadata=metadata), services=services).status == 200


@pytest.mark.parametrize(
    "customer", [{}, {"id": "1"}, {"email": "a@example.org"}, {"name": "N", "extra": True}]
)
def test_customer_fields_are_all_optional(services: Any, customer: dict[str, Any]) -> None:
    body = {"amount": {"value": 5, "currency": "EUR"}, "customer": customer}
    assert invoke("issue", body, services=services).status == 200


# invalid_request ----------------------------------------------------------------------------------

AMOUNT_REFUSED = [
    pytest.param('"50"', "USD", id="value-as-string"),
    pytest.param("true", "USD", id="value-as-boolean"),
    pytest.param("null", "USD", id="value-null"),
    pytest.param("[50]", "USD", id="value-as-list"),
    pytest.param("-5", "USD", id="negative"),
    pytest.param("0", "USD", id="zero"),
    pytest.param("0.00", "USD", id="zero-with-decimals"),
    pytest.param("-0", "USD", id="minus-zero"),
    pytest.param("10.005", "USD", id="three-decimals-USD"),
    pytest.param("1e-3", "USD", id="exponent-below-cent"),
    pytest.param("1.5", "JPY", id="decimals-JPY"),
    pytest.param("1.0005", "KWD", id="four-decimals-KWD"),
    pytest.param("NaN", "USD", id="NaN"),
    pytest.param("Infinity", "USD", id="Infinity"),
    pytest.param("1e-400", "USD", id="tiny-exponent"),
]


@pytest.mark.parametrize(("raw_value", "currency"), AMOUNT_REFUSED)
def test_bad_amount_is_invalid_request(
    services: Any, repository: Any, raw_value: str, currency: str
) -> None:
    raw = '{"amount": {"value": ' + raw_value + ', "currency": "' + currency + '"}, "customer": {}}'
    answer = invoke("issue", raw=raw, services=services)
    assert (answer.status, answer.error_code) == (400, "invalid_request")
    assert cards_in_table(repository) == []


@pytest.mark.parametrize(
    "currency",
    [
        pytest.param("ABC", id="unknown-code"),
        pytest.param("XAU", id="no-minor-unit-metal"),
        pytest.param("usd", id="lowercase"),
        pytest.param("US", id="too-short"),
        pytest.param("USDX", id="too-long"),
        pytest.param(840, id="numeric-code"),
        pytest.param(None, id="null"),
    ],
)
def test_unknown_currency_is_invalid_request(services: Any, currency: Any) -> None:
    answer = invoke(
        "issue", {"amount": {"value": 5, "currency": currency}, "customer": {}}, services=services
    )
    assert (answer.status, answer.error_code) == (400, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"customer": CUSTOMER}, id="missing-amount"),
        pytest.param({"amount": {"value": 5, "currency": "USD"}}, id="missing-customer"),
        pytest.param({"amount": {"currency": "USD"}, "customer": {}}, id="missing-value"),
        pytest.param({"amount": {"value": 5}, "customer": {}}, id="missing-currency"),
        pytest.param({"amount": 5, "customer": {}}, id="amount-not-object"),
        pytest.param(
            {"amount": {"value": 5, "currency": "USD"}, "customer": "jay"}, id="customer-string"
        ),
        pytest.param(
            {"amount": {"value": 5, "currency": "USD"}, "customer": {"email": 7}},
            id="customer-email-number",
        ),
        pytest.param(issue_body(idempotence_key=""), id="empty-idempotence-key"),
        pytest.param(issue_body(idempotence_key="k" * 256), id="idempotence-key-256"),
        pytest.param(issue_body(idempotence_key=12345), id="idempotence-key-number"),
        pytest.param(issue_body(metadata="refund"), id="metadata-not-object"),
        pytest.param([issue_body()], id="array"),
        pytest.param("text", id="json-string"),
        pytest.param(None, id="json-null"),
    ],
)
def test_malformed_issue_request_is_invalid_request(
    services: Any, repository: Any, body: Any
) -> None:
    answer = invoke("issue", raw=json.dumps(body), services=services)
    assert (answer.status, answer.error_code) == (400, "invalid_request")
    assert answer.json["message"]
    assert cards_in_table(repository) == []


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("not json", id="text"),
        pytest.param('{"amount": {"value": 5, "currency": "USD"}, "customer": {}', id="truncated"),
        pytest.param("{'amount': 5}", id="python-dict"),
    ],
)
def test_body_that_is_not_json_is_invalid_request(services: Any, raw: str) -> None:
    answer = invoke("issue", raw=raw, services=services)
    assert (answer.status, answer.error_code) == (400, "invalid_request")


def test_idempotence_key_of_255_characters_is_accepted(services: Any) -> None:
    answer = invoke("issue", issue_body(idempotence_key="k" * 255), services=services)
    assert answer.status == 200


def test_body_over_64_kib_is_payload_too_large(services: Any, repository: Any) -> None:
    body = issue_body(metadata={"note": "x" * (64 * 1024)})
    answer = invoke("issue", body, services=services)
    assert (answer.status, answer.error_code) == (413, "payload_too_large")
    assert cards_in_table(repository) == []


def test_body_of_exactly_64_kib_is_accepted(services: Any) -> None:
    template = '{"amount": {"value": 5, "currency": "USD"}, "customer": {}, "pad": "%s"}'
    padding = 64 * 1024 - len(template % "")
    exact = invoke("issue", raw=template % ("x" * padding), services=services)
    assert exact.status == 200
    over = invoke("issue", raw=template % ("x" * (padding + 1)), services=services)
    assert (over.status, over.error_code) == (413, "payload_too_large")


def test_base64_encoded_body_is_accepted(services: Any) -> None:
    import base64

    from tests.support.calls import handler
    from tests.support.events import LambdaContext, proxy_event

    raw = '{"amount": {"value": 7, "currency": "USD"}, "customer": {}}'
    event = proxy_event("/gift_card/issue", None, raw=base64.b64encode(raw.encode()).decode())
    event["isBase64Encoded"] = True
    result = handler("issue")(event, LambdaContext(), services)
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["amount"] == {"value": 7, "currency": "USD"}
    from tests.support.calls import SECRETS

    SECRETS.harvest(json.loads(result["body"]))


@pytest.mark.parametrize("env", [{"ACCEPTED_CURRENCIES": "USD,EUR"}])
def test_currency_the_deployment_does_not_accept_is_invalid_request(services: Any) -> None:
    refused = invoke("issue", issue_body(5000, "JPY"), services=services)
    assert (refused.status, refused.error_code) == (400, "invalid_request")
    assert invoke("issue", issue_body(50, "EUR"), services=services).status == 200


def test_every_active_iso_currency_is_accepted_by_default(services: Any) -> None:
    for value, currency in [(5000, "JPY"), ("1.234", "KWD"), (10, "CHF"), ("0.5", "GBP")]:
        answer = invoke("issue", issue_body(value, currency), services=services)
        assert answer.status == 200, currency


# amount_out_of_range ------------------------------------------------------------------------------


def test_amount_over_10000_is_out_of_range(services: Any, repository: Any) -> None:
    answer = invoke("issue", issue_body("10000.01"), services=services)
    assert (answer.status, answer.error_code) == (400, "amount_out_of_range")
    assert cards_in_table(repository) == []
    assert invoke("issue", issue_body(10000), services=services).status == 200


def test_huge_exponent_amount_is_out_of_range(services: Any) -> None:
    raw = '{"amount": {"value": 1e400, "currency": "USD"}, "customer": {}}'
    answer = invoke("issue", raw=raw, services=services)
    assert (answer.status, answer.error_code) == (400, "amount_out_of_range")


@pytest.mark.parametrize(
    "env", [{"MAX_CARD_BALANCE": "500", "MAX_CARD_BALANCE_BY_CURRENCY": "JPY=50000,EUR=250"}]
)
def test_maximum_is_configurable_also_per_currency(services: Any) -> None:
    cases = [
        ("500", "USD", 200),
        ("500.01", "USD", 400),
        ("50000", "JPY", 200),
        ("50001", "JPY", 400),
        ("250", "EUR", 200),
        ("250.01", "EUR", 400),
    ]
    for value, currency, status in cases:
        answer = invoke("issue", issue_body(Decimal(value), currency), services=services)
        assert answer.status == status, (value, currency)
        if status == 400:
            assert answer.error_code == "amount_out_of_range"


def test_default_maximum_is_scaled_per_currency(services: Any) -> None:
    # Ordinary Japanese and Korean gift cards (10,000 major units is ~65 USD in JPY, ~7 in KRW)
    cases = [
        ("1500000", "JPY", 200),
        ("1500001", "JPY", 400),
        ("15000000", "KRW", 200),
        ("15000001", "KRW", 400),
        ("10000", "USD", 200),
        ("10000.01", "USD", 400),
        ("10000", "EUR", 200),
        ("10000.01", "EUR", 400),
    ]
    for value, currency, status in cases:
        answer = invoke("issue", issue_body(Decimal(value), currency), services=services)
        assert answer.status == status, (value, currency)
        if status == 400:
            assert answer.error_code == "amount_out_of_range"


@pytest.mark.parametrize("env", [{"MAX_CARD_BALANCE_BY_CURRENCY": "JPY=2000000"}])
def test_per_currency_override_wins_over_the_scaled_default(services: Any) -> None:
    assert invoke("issue", issue_body(Decimal(2_000_000), "JPY"), services=services).status == 200
    answer = invoke("issue", issue_body(Decimal(2_000_001), "JPY"), services=services)
    assert (answer.status, answer.error_code) == (400, "amount_out_of_range")
    answer = invoke("issue", issue_body(Decimal(15_000_001), "KRW"), services=services)
    assert (answer.status, answer.error_code) == (400, "amount_out_of_range")


# Issued cards that need activation ---------------------------------------------------------------


NEED_ACTIVATION = {"ISSUED_CARDS_NEED_ACTIVATION": "true"}


@pytest.mark.parametrize("env", [NEED_ACTIVATION])
def test_card_issued_for_a_purchase_is_inactive_until_activated(
    services: Any, repository: Any
) -> None:
    # Given a card issued for a gift card purchase with the flag on
    answer = invoke(
        "issue", issue_body(30, metadata={"original_operation": "activation"}), services=services
    )
    assert answer.status == 200
    assert answer.json["amount"] == {"value": 30, "currency": "USD"}
    number, pin = answer.json["identifier"]["number"], answer.json["identifier"]["pin"]
    # Then it is inactive and unfunded: no ledger entry yet
    assert balance_of(services, number, pin).error_code == "card_not_active"
    [card] = cards_in_table(repository)
    lookup = card["PK"].removeprefix("CARD#")
    assert repository.ledger(lookup) == []
    # When it is activated, Then it is funded by exactly one ledger entry
    activated = invoke(
        "activate",
        {"card_number": number, "amount": {"value": 30, "currency": "USD"}},
        services=services,
    )
    assert (activated.status, activated.body) == (
        200,
        '{"identifier": {"number": "' + number + '"}}',
    )
    balance = balance_of(services, number, pin)
    assert (balance.status, balance.body) == (200, '{"value": 30, "currency": "USD"}')
    [entry] = repository.ledger(lookup)
    assert (entry.kind, entry.amount, entry.balance_after) == ("activate", 3000, 3000)


@pytest.mark.parametrize("env", [NEED_ACTIVATION])
def test_card_issued_for_a_refund_is_funded_at_once_even_with_the_flag(services: Any) -> None:
    answer = invoke(
        "issue", issue_body(30, metadata={"original_operation": "refund"}), services=services
    )
    identifier = answer.json["identifier"]
    balance = balance_of(services, identifier["number"], identifier["pin"])
    assert (balance.status, balance.body) == (200, '{"value": 30, "currency": "USD"}')


def test_without_the_flag_a_purchase_card_is_funded_at_once(services: Any) -> None:
    answer = invoke(
        "issue", issue_body(30, metadata={"original_operation": "activation"}), services=services
    )
    identifier = answer.json["identifier"]
    assert balance_of(services, identifier["number"], identifier["pin"]).status == 200


def test_generated_number_never_collides_with_an_existing_card(
    services: Any, repository: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an existing card
    taken, taken_pin = issue_card(70, services=services)
    # When the generator draws that same number first, then a free one
    from giftcard import service
    from tests.support.calls import card_number

    free = card_number(4711)
    draws = iter([taken, free])
    monkeypatch.setattr(service, "generate_number", lambda prefix, length: next(draws))
    answer = invoke("issue", issue_body(20), services=services)
    # Then the new card gets the free number, and the existing card is untouched
    assert answer.status == 200
    assert answer.json["identifier"]["number"] == free
    assert balance_of(services, taken, taken_pin).json == {"value": 70, "currency": "USD"}
    new_pin = answer.json["identifier"]["pin"]
    assert balance_of(services, free, new_pin).json == {"value": 20, "currency": "USD"}
    assert len(cards_in_table(repository)) == 2
