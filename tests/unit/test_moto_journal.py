"""tools/moto_journal.py: moto's TransactWriteItems with a journal instead of whole-table copies,
and its query without the whole-table sort, give exactly moto's answers.

Each case runs twice on a fresh moto, once on moto's own code and once on the patched code, and
compares everything a client or a later test could see: the error and its cancellation reasons
(``ALL_OLD`` items included), every item (and moto's empty partitions, and the order of items),
and the table's stream records. A cancelled transaction must leave all of it as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools import moto_journal

LEDGER = "ledger"  # PK/SK, stream NEW_AND_OLD_IMAGES, a sparse index like the service's table
FLAT = "flat"  # PK only, stream NEW_IMAGE
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

Client = Any
Outcome = tuple[Any, Any]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@contextmanager
def patched(enabled: bool) -> Iterator[None]:
    """moto's own code (False) or the journal (True), whatever the harness installed."""
    was = moto_journal.installed()
    if enabled:
        moto_journal.install()
    else:
        moto_journal.uninstall()
    try:
        yield
    finally:
        if was:
            moto_journal.install()
        else:
            moto_journal.uninstall()


@contextmanager
def fresh_moto() -> Iterator[Client]:
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=LEDGER,
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"}
                for name in ("PK", "SK", "OPEN_PK", "OPEN_SK")
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "open",
                    "KeySchema": [
                        {"AttributeName": "OPEN_PK", "KeyType": "HASH"},
                        {"AttributeName": "OPEN_SK", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        client.create_table(
            TableName=FLAT,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        yield client


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def key(pk: str, sk: str | None = None) -> dict[str, Any]:
    return {"PK": s(pk)} if sk is None else {"PK": s(pk), "SK": s(sk)}


def seed(client: Client) -> None:
    """Two partitions of three items, two flat items (their stream records included)."""
    for pk in ("CARD#1", "CARD#2"):
        for sk, balance in (("CARD", 100), ("E#1", 10), ("E#2", 20)):
            client.put_item(TableName=LEDGER, Item={**key(pk, sk), "balance": n(balance)})
    for pk in ("A", "B"):
        client.put_item(TableName=FLAT, Item={**key(pk), "v": n(1)})


def table_state(name: str) -> Any:
    """Everything stored: partitions (even empty ones) and items in moto's order, and the
    stream records without their random id and clock (and moto's size, which counts the
    clock's digits)."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends["123456789012"]["us-east-1"].get_table(name)
    if table.range_key_attr is not None:
        items = [
            (pk.value, [(sk.value, item.to_json()) for sk, item in partition.items()])
            for pk, partition in table.items.items()
        ]
    else:
        items = [(pk.value, item.to_json()) for pk, item in table.items.items()]
    stream = []
    for record in table.stream_shard.items:
        data = dict(record.to_json()["dynamodb"])
        data.pop("ApproximateCreationDateTime")
        data.pop("SizeBytes")
        stream.append((record.to_json()["eventName"], data))
    return items, stream


def run(
    transact: list[dict[str, Any]], prepare: Callable[[Client], None] = seed
) -> tuple[Outcome, Any, Any]:
    """(error code and cancellation reasons or None, state before, state after)."""
    with fresh_moto() as client:
        prepare(client)
        before = (table_state(LEDGER), table_state(FLAT))
        try:
            client.transact_write_items(TransactItems=transact)
            outcome: Outcome = (None, None)
        except ClientError as exc:
            outcome = (exc.response["Error"]["Code"], exc.response.get("CancellationReasons"))
        after = (table_state(LEDGER), table_state(FLAT))
    return outcome, before, after


def compare(transact: list[dict[str, Any]]) -> tuple[Outcome, Any, Any]:
    """Run on moto's code and on the journal: identical answers and states. Returns the
    journal's run."""
    with patched(False):
        expected = run(transact)
    with patched(True):
        actual = run(transact)
    assert actual == expected
    return actual


def put(table: str, item: dict[str, Any], condition: str | None = None, **extra: Any) -> Any:
    op: dict[str, Any] = {"TableName": table, "Item": item, **extra}
    if condition:
        op["ConditionExpression"] = condition
    return {"Put": op}


def update(table: str, k: dict[str, Any], expression: str, values: dict[str, Any]) -> Any:
    return {
        "Update": {
            "TableName": table,
            "Key": k,
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
    }


def delete(table: str, k: dict[str, Any]) -> Any:
    return {"Delete": {"TableName": table, "Key": k}}


def check(table: str, k: dict[str, Any], condition: str, **extra: Any) -> Any:
    return {
        "ConditionCheck": {"TableName": table, "Key": k, "ConditionExpression": condition, **extra}
    }


FAILING_CHECK = check(
    LEDGER, key("CARD#2", "CARD"), "balance = :x", ExpressionAttributeValues={":x": n(-1)}
)
#: Created, updated, deleted, condition-checked (missing: moto creates its empty partition),
#: in both tables; then a check that fails.
EVERY_KIND = [
    put(LEDGER, {**key("CARD#1", "E#3"), "amount": n(5)}, "attribute_not_exists(PK)"),
    put(LEDGER, {**key("CARD#9", "CARD"), "balance": n(0)}),
    update(LEDGER, key("CARD#1", "CARD"), "SET balance = balance - :a", {":a": n(5)}),
    update(LEDGER, key("CARD#7", "CARD"), "SET balance = :a", {":a": n(1)}),
    delete(LEDGER, key("CARD#2", "E#1")),
    check(LEDGER, key("CARD#8", "CARD"), "attribute_not_exists(PK)"),
    put(FLAT, {**key("C"), "v": n(2)}),
    update(FLAT, key("B"), "SET v = :v", {":v": n(9)}),
    delete(FLAT, key("A")),
]


def test_a_cancelled_transaction_leaves_every_touched_item_and_the_stream_as_before() -> None:
    (code, reasons), before, after = compare([*EVERY_KIND, FAILING_CHECK])
    assert code == "TransactionCanceledException"
    assert [reason["Code"] for reason in reasons] == ["None"] * len(EVERY_KIND) + [
        "ConditionalCheckFailed"
    ]
    assert after == before  # items, empty partitions, item order, stream records


def test_the_same_transaction_without_the_failing_check_writes_and_publishes_like_moto() -> None:
    (code, _), before, after = compare(EVERY_KIND)
    assert code is None
    ledger_stream, flat_stream = after[0][1], after[1][1]
    # 2 puts, 2 updates, 1 delete; moto publishes an update that creates its item twice.
    assert len(ledger_stream) == len(before[0][1]) + 6
    assert len(flat_stream) == len(before[1][1]) + 3


def test_cancellation_reasons_with_all_old_items_are_moto_s() -> None:
    all_old = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    (code, reasons), before, after = compare(
        [
            put(LEDGER, {**key("CARD#1", "E#3"), "amount": n(5)}, "attribute_not_exists(PK)"),
            put(LEDGER, {**key("CARD#1", "E#1"), "x": n(1)}, "attribute_not_exists(PK)", **all_old),
            check(
                LEDGER,
                key("CARD#2", "CARD"),
                "balance = :x",
                ExpressionAttributeValues={":x": n(-1)},
                **all_old,
            ),
            check(LEDGER, key("CARD#6", "CARD"), "attribute_exists(PK)", **all_old),
            put(FLAT, {**key("A"), "v": n(3)}, "attribute_not_exists(PK)"),
        ]
    )
    assert code == "TransactionCanceledException"
    assert reasons[1]["Item"] == {**key("CARD#1", "E#1"), "balance": n(10)}
    assert reasons[2]["Item"]["balance"] == n(100)
    assert "Item" not in reasons[3]  # nothing to return for a missing item
    assert after == before


def test_a_delete_undone_puts_the_item_back_in_its_place() -> None:
    # Deleting the first item of a partition (and of the flat table) then failing: moto's copy
    # kept the order, so must the journal (a scan returns items in this order).
    _, before, after = compare(
        [delete(LEDGER, key("CARD#1", "CARD")), delete(FLAT, key("A")), FAILING_CHECK]
    )
    assert after == before


def test_the_same_item_twice_is_refused_and_nothing_is_written() -> None:
    (code, _), before, after = compare(
        [
            put(LEDGER, {**key("CARD#5", "CARD"), "balance": n(1)}),
            update(LEDGER, key("CARD#1", "CARD"), "SET balance = :a", {":a": n(1)}),
            delete(LEDGER, key("CARD#1", "CARD")),
        ]
    )
    assert code == "ValidationException"
    assert after == before


def test_an_unknown_table_cancels_with_moto_s_reason() -> None:
    (code, reasons), before, after = compare(
        [
            put(LEDGER, {**key("CARD#5", "CARD"), "balance": n(1)}),
            check("missing", key("X"), "attribute_exists(PK)"),
        ]
    )
    assert code == "TransactionCanceledException"
    assert reasons[1]["Code"] == "ResourceNotFoundException"
    assert after == before


def test_a_cancelled_transaction_publishes_no_stream_record() -> None:
    # Read as a consumer of the events would: moto's DynamoDB Streams from the first record.
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    with patched(True), fresh_moto() as client:
        seed(client)
        streams = dynamodbstreams_backends["123456789012"]["us-east-1"]
        arn = client.describe_table(TableName=LEDGER)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(arn)["Shards"][0]["ShardId"]

        def records() -> list[dict[str, Any]]:
            iterator = streams.get_shard_iterator(arn, shard, "TRIM_HORIZON", None)
            found: list[dict[str, Any]] = streams.get_records(iterator.arn, 1000)["Records"]
            return found

        published = records()
        with pytest.raises(ClientError):
            client.transact_write_items(TransactItems=[*EVERY_KIND, FAILING_CHECK])
        assert records() == published
        client.transact_write_items(TransactItems=EVERY_KIND)
        assert len(records()) == len(published) + 6


KEYS = st.sampled_from(
    [
        ("CARD#1", "CARD"),
        ("CARD#1", "E#1"),
        ("CARD#1", "E#9"),
        ("CARD#3", "CARD"),
        ("CARD#2", "E#2"),
    ]
)
CONDITIONS = st.sampled_from(
    [None, "attribute_not_exists(PK)", "attribute_exists(PK)", "balance > :zero"]
)


@st.composite
def operations(draw: st.DrawFn) -> dict[str, Any]:
    pk, sk = draw(KEYS)
    kind = draw(st.sampled_from(["Put", "Update", "Delete", "ConditionCheck"]))
    condition = draw(CONDITIONS)
    if kind == "ConditionCheck" and condition is None:
        condition = "attribute_exists(PK)"
    op: dict[str, Any] = {"TableName": LEDGER, "Key": key(pk, sk)}
    values: dict[str, Any] = {}
    if kind == "Put":
        op = {"TableName": LEDGER, "Item": {**key(pk, sk), "balance": n(draw(st.integers(0, 9)))}}
    elif kind == "Update":
        op["UpdateExpression"] = "SET balance = :b"
        values[":b"] = n(draw(st.integers(-1, 9)))
    if condition:
        op["ConditionExpression"] = condition
        if ":zero" in condition:
            values[":zero"] = n(0)
    if values:
        op["ExpressionAttributeValues"] = values
    if draw(st.booleans()):
        op["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {kind: op}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations(), min_size=1, max_size=4))
def test_any_transaction_answers_and_stores_exactly_like_moto(
    transact: list[dict[str, Any]],
) -> None:
    (code, _), before, after = compare(transact)
    if code is not None:
        assert after == before


# The query without the whole-table sort ------------------------------------------------------


def queries(client: Client) -> list[Any]:
    def query(**kwargs: Any) -> Any:
        pages, request = [], {"TableName": LEDGER, **kwargs}
        while True:
            page = client.query(**request)
            pages.append((page["Items"], page.get("LastEvaluatedKey"), page["Count"]))
            if "LastEvaluatedKey" not in page:
                return pages
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    pk = {":pk": s("CARD#1")}
    return [
        query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues=pk),
        query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :e)",
            ExpressionAttributeValues={**pk, ":e": s("E#")},
            ScanIndexForward=False,
            Limit=2,
            ConsistentRead=True,
        ),
        query(
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": s("NOPE")},
        ),
        query(
            IndexName="open",
            KeyConditionExpression="OPEN_PK = :o AND OPEN_SK < :until",
            ExpressionAttributeValues={":o": s("OPEN#1"), ":until": s("0005")},
            Limit=2,
        ),
    ]


def test_queries_answer_exactly_like_moto() -> None:
    def prepare(client: Client) -> None:
        seed(client)
        for index, pk in enumerate(["I#3", "I#1", "I#2", "I#5", "I#4"]):
            item = {**key(pk, "INSTRUMENT"), "OPEN_PK": s("OPEN#1"), "OPEN_SK": s(f"000{index}")}
            client.put_item(TableName=LEDGER, Item=item)
        for sk in ("E#10", "E#0", "E#3"):
            client.put_item(TableName=LEDGER, Item={**key("CARD#1", sk), "balance": n(1)})

    answers = []
    for enabled in (False, True):
        with patched(enabled), fresh_moto() as client:
            prepare(client)
            before = table_state(LEDGER)
            answers.append(queries(client))
            assert table_state(LEDGER) == before  # a query of a missing key creates nothing
    assert answers[1] == answers[0]
    assert [len(pages) for pages in answers[1]] == [1, 3, 1, 3]


def test_reads_answer_exactly_like_moto() -> None:
    # Given items holding every kind of attribute value, blobs and nesting included
    every_type = {
        "s": s("text \u00e9\u4e2d"),
        "n": {"N": "-12.50"},
        "b": {"B": b"\x00\xff binary"},
        "t": {"BOOL": True},
        "f": {"BOOL": False},
        "z": {"NULL": True},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [b"\x01", b"\x02"]},
        "m": {"M": {"inner": {"L": [s("x"), {"M": {"deep": {"B": b"\x03"}}}, {"NULL": True}]}}},
        "l": {"L": []},
    }

    def prepare(client: Client) -> None:
        seed(client)
        for index in range(7):
            item = {**key(f"CARD#{index % 3}", f"E#{index}"), **every_type, "i": n(index)}
            client.put_item(TableName=LEDGER, Item=item)
        client.put_item(TableName=FLAT, Item={**key("C"), **every_type})

    def reads(client: Client) -> list[Any]:
        answers: list[Any] = []

        def ask(operation: str, **kwargs: Any) -> None:
            answer = getattr(client, operation)(**kwargs)
            answer.pop("ResponseMetadata")
            answers.append(answer)

        for segment in range(3):
            start: Any = None
            while True:
                extra = {"ExclusiveStartKey": start} if start else {}
                ask("scan", TableName=LEDGER, Segment=segment, TotalSegments=3, Limit=2, **extra)
                start = answers[-1].get("LastEvaluatedKey")
                if not start:
                    break
        ask("scan", TableName=FLAT, ReturnConsumedCapacity="TOTAL")
        ask("scan", TableName=LEDGER, Select="COUNT")
        ask("scan", TableName=LEDGER, ProjectionExpression="PK, b, m.inner")
        ask(
            "scan",
            TableName=LEDGER,
            FilterExpression="i > :i",
            ExpressionAttributeValues={":i": n(90)},
        )
        ask(
            "query",
            TableName=LEDGER,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": s("CARD#1")},
            ScanIndexForward=False,
        )
        ask("get_item", TableName=LEDGER, Key=key("CARD#1", "E#1"), ConsistentRead=True)
        ask("get_item", TableName=LEDGER, Key=key("CARD#9", "E#9"))
        ask(
            "batch_get_item",
            RequestItems={
                LEDGER: {"Keys": [key("CARD#0", "E#0"), key("CARD#2", "E#2"), key("X", "Y")]},
                FLAT: {"Keys": [key("C")], "ConsistentRead": True},
            },
        )
        return answers

    # When each read runs on moto's serializer and on the JSON writer, Then the answers are equal
    answers = []
    for enabled in (False, True):
        with patched(enabled), fresh_moto() as client:
            prepare(client)
            answers.append(reads(client))
    assert answers[1] == answers[0]
    assert answers[0][-1]["Responses"][FLAT][0]["b"] == {"B": b"\x00\xff binary"}


# Another moto is a decision, not a surprise ------------------------------------------------------


def test_another_moto_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto

    monkeypatch.setattr(moto, "__version__", "5.3.0")
    with pytest.raises(moto_journal.MotoShapeError, match=r"written against moto 5\.2\.5"):
        moto_journal.install()


def test_a_changed_transact_write_items_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    with patched(False):

        def transact_write_items(self: Any, transact_items: Any) -> None:
            """A moto that changed its transactions."""

        monkeypatch.setattr(DynamoDBBackend, "transact_write_items", transact_write_items)
        with pytest.raises(moto_journal.MotoShapeError, match="transact_write_items"):
            moto_journal.install()
        monkeypatch.undo()
