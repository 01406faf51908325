"""Request and response models: forgiving where the contract says so (unknown fields, free-form
metadata, optional customer fields), strict where money is concerned."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from giftcard.http import validation_message
from giftcard.jsonio import dumps, loads
from giftcard.models import (
    MAX_METADATA_BYTES,
    ActivateRequest,
    BalanceRequest,
    BalanceResponse,
    DeactivateRequest,
    DeactivateResponse,
    ErrorResponse,
    InstrumentRefundRequest,
    IssuedIdentifier,
    IssueRequest,
    IssueResponse,
    MoneyOut,
)


def parse(model: type[BaseModel], text: str) -> Any:
    """As the handler does: JSON with Decimal numbers, then the model."""
    return model.model_validate(loads(text))


def test_contract_examples_parse() -> None:
    balance = parse(
        BalanceRequest,
        '{"identifier": {"number": "7777001234567890", "pin": "4125"},'
        ' "metadata": {"store_id": "store-berlin-1"}}',
    )
    assert (balance.identifier.number, balance.identifier.pin) == ("7777001234567890", "4125")
    assert balance.metadata is not None and balance.metadata.store_id == "store-berlin-1"
    issue = parse(
        IssueRequest,
        '{"amount": {"value": 50, "currency": "USD"},'
        ' "customer": {"id": "64810476", "email": "jay@example.com", "name": "Jay Doubleyou"},'
        ' "metadata": {"original_operation": "refund", "store_id": "store-berlin-1"},'
        ' "idempotence_key": "5kl5345b2hjj5k79"}',
    )
    assert issue.amount.value == Decimal(50)
    assert issue.metadata is not None and issue.metadata.original_operation == "refund"
    activate = parse(
        ActivateRequest,
        '{"card_number": "7777009876543210", "amount": {"value": 25, "currency": "EUR"}}',
    )
    assert activate.customer is None
    deactivate = parse(
        DeactivateRequest,
        '{"card_number": "7777001234567890", "pin": "4125", "store_id": "store-berlin-1",'
        ' "idempotence_key": "6234h6k263bb589v0bnv3"}',
    )
    assert deactivate.pin == "4125"


def test_amount_keeps_the_exact_decimal() -> None:
    request = parse(IssueRequest, '{"amount": {"value": 25.50, "currency": "USD"}, "customer": {}}')
    assert isinstance(request.amount.value, Decimal)
    assert str(request.amount.value) == "25.50"


@pytest.mark.parametrize("value", ['"50"', "true", "false", "null", "[50]", '{"v": 50}', '"NaN"'])
def test_amount_value_must_be_a_json_number(value: str) -> None:
    with pytest.raises(ValidationError):
        parse(
            IssueRequest, '{"amount": {"value": ' + value + ', "currency": "USD"}, "customer": {}}'
        )


def test_amount_value_as_a_python_float_is_refused() -> None:
    # Strict: nothing may hand the model a float (the JSON layer gives Decimal only).
    with pytest.raises(ValidationError):
        IssueRequest.model_validate({"amount": {"value": 25.5, "currency": "USD"}, "customer": {}})


@pytest.mark.parametrize("currency", ['"usd"', '"US"', '"USDD"', "840", "null", '"U5D"'])
def test_currency_must_be_three_capital_letters(currency: str) -> None:
    with pytest.raises(ValidationError):
        parse(
            IssueRequest, '{"amount": {"value": 5, "currency": ' + currency + '}, "customer": {}}'
        )


def test_unknown_fields_are_ignored_at_every_level() -> None:
    request = parse(
        IssueRequest,
        '{"amount": {"value": 5, "currency": "USD", "x": 1}, "customer": {"id": "1", "y": 2},'
        ' "metadata": {"store_id": "s", "z": {"deep": [1]}}, "new_top_level": true}',
    )
    assert request.amount.value == 5
    balance = parse(BalanceRequest, '{"identifier": {"number": "1", "cvv": "x"}, "w": 1}')
    assert balance.identifier.number == "1"


def test_customer_keeps_unknown_fields_as_customer_metadata() -> None:
    request = parse(
        IssueRequest,
        '{"amount": {"value": 5, "currency": "USD"},'
        ' "customer": {"email": "a@b.example", "loyalty_id": "L-1"}}',
    )
    assert request.customer.model_dump(exclude_none=True) == {
        "email": "a@b.example",
        "loyalty_id": "L-1",
    }


@pytest.mark.parametrize(
    "metadata",
    ['{"store_id": 12}', '{"store_id": ["a"]}', '{"original_operation": {"x": 1}}', "{}"],
)
def test_metadata_with_unexpected_types_never_fails(metadata: str) -> None:
    request = parse(
        BalanceRequest, '{"identifier": {"number": "7777"}, "metadata": ' + metadata + "}"
    )
    assert request.metadata is not None
    assert request.metadata.store_id is None or isinstance(request.metadata.store_id, str)


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (BalanceRequest, "{}"),
        (BalanceRequest, '{"identifier": {"number": 7777001234567890}}'),
        (BalanceRequest, '{"identifier": {"number": "7777", "pin": 4125}}'),
        (BalanceRequest, '{"identifier": {"number": ""}}'),
        (BalanceRequest, '{"identifier": {"number": "' + "1" * 65 + '"}}'),
        (BalanceRequest, '{"identifier": {"number": "1", "pin": "' + "1" * 65 + '"}}'),
        (IssueRequest, '{"amount": {"value": 5, "currency": "USD"}}'),
        (IssueRequest, '{"customer": {}}'),
        (IssueRequest, '{"amount": {"value": 5, "currency": "USD"}, "customer": {"id": 5}}'),
        (ActivateRequest, '{"amount": {"value": 5, "currency": "USD"}}'),
        (ActivateRequest, '{"card_number": "1"}'),
        (DeactivateRequest, "{}"),
        (DeactivateRequest, '{"card_number": "1", "idempotence_key": ""}'),
        (DeactivateRequest, '{"card_number": "1", "idempotence_key": "' + "k" * 256 + '"}'),
    ],
)
def test_missing_or_mistyped_fields_are_refused(model: type[BaseModel], body: str) -> None:
    with pytest.raises(ValidationError):
        parse(model, body)


def test_idempotence_key_of_1_to_255_characters() -> None:
    for key in ("k", "k" * 255):
        request = parse(DeactivateRequest, '{"card_number": "1", "idempotence_key": "' + key + '"}')
        assert request.idempotence_key == key


def test_requests_are_immutable() -> None:
    request = parse(DeactivateRequest, '{"card_number": "1"}')
    with pytest.raises(ValidationError):
        request.card_number = "2"  # type: ignore[misc]


def test_responses_serialize_to_the_contract_shapes() -> None:
    issued = IssueResponse(
        identifier=IssuedIdentifier(number="7777001234567890", pin="4125"),
        amount=MoneyOut(value=Decimal("50.00"), currency="USD"),
    )
    assert dumps(issued.model_dump()) == (
        '{"identifier": {"number": "7777001234567890", "pin": "4125"},'
        ' "amount": {"value": 50, "currency": "USD"}}'
    )
    balance = BalanceResponse(value=Decimal("25.50"), currency="USD")
    assert dumps(balance.model_dump()) == '{"value": 25.5, "currency": "USD"}'
    deactivated = DeactivateResponse(deactivated_at="2026-11-25T10:11:17Z")
    assert dumps(deactivated.model_dump()) == '{"deactivated_at": "2026-11-25T10:11:17Z"}'


def test_error_response_accepts_every_contract_code() -> None:
    codes = [
        "invalid_request", "invalid_card", "card_not_found", "card_not_active",
        "card_already_active", "card_deactivated", "card_expired", "currency_mismatch",
        "amount_out_of_range", "unauthorized", "not_found", "method_not_allowed",
        "payload_too_large", "rate_limit", "internal_error", "retry_error",
    ]  # fmt: skip
    for code in codes:
        assert ErrorResponse(error_code=code, message="m").error_code == code  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ErrorResponse(error_code="nope", message="m")  # type: ignore[arg-type]


def test_error_codes_of_the_errors_module_are_all_contract_codes() -> None:
    from giftcard import errors

    classes = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ServiceError)
    ]
    for cls in classes:
        ErrorResponse(error_code=cls.error_code, message=cls.message)
    statuses = {cls.error_code: cls.status for cls in classes}
    assert statuses["invalid_card"] == errors.CardNotFound.status == 400
    # The same code, told to operators as what it is there: no such card.
    assert errors.UnknownCard.error_code == "card_not_found" and errors.UnknownCard.status == 404
    assert statuses["unauthorized"] == 401
    assert statuses["payload_too_large"] == 413
    assert statuses["retry_error"] == 503


def test_payment_metadata_is_capped_as_echoed_and_the_refusal_says_so() -> None:
    def refund(metadata: str) -> Any:
        return parse(
            InstrumentRefundRequest,
            '{"instrument_id": "i-1", "idempotency_key": "k", "amount": 5, "currency": "USD",'
            ' "metadata": ' + metadata + "}",
        )

    # Echoed as '{"m": "xx...x"}': exactly the cap is accepted, one byte more is refused
    at_cap = dumps({"m": "x" * (MAX_METADATA_BYTES - len('{"m": ""}'))})
    assert len(at_cap.encode()) == MAX_METADATA_BYTES
    assert refund(at_cap).metadata == loads(at_cap)
    over = dumps({"m": "x" * (MAX_METADATA_BYTES - len('{"m": ""}') + 1)})
    with pytest.raises(ValidationError) as refused:
        refund(over)
    assert validation_message(refused.value) == (
        "Invalid request: metadata: must be at most 16384 bytes as JSON"
    )
