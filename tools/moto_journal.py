"""moto's ``TransactWriteItems`` without the whole-table copy: a journal of the touched items.

Why: moto 5.2.5 (``DynamoDBBackend.transact_write_items``) deep-copies every table a transaction
names, once per item of the transaction, so that it can put the copy back if the transaction is
cancelled. A three-item transaction on a 50,000-item table copies 150,000 items; every copied item
is also recorded forever in ``Item.instances_tracked`` (moto's dashboard), so the process grows
by gigabytes. That made ``make run`` with a real print run unusable (minutes to start, 14 GB,
mutations past 60 s) and slows every suite that writes through transactions.

What replaces it: ``install()`` swaps that one method for ``journaled_transact_write_items``, the
same code with the backup replaced by a ``Journal``. Before an item of the transaction touches a
key, the journal remembers that key's previous state (a copy of the item, or its absence,
including whether its partition existed) and each touched table's stream position. On any
failure (a cancelled transaction, or any exception) the journal puts every touched key back,
newest first, restores the order of a partition a Delete reordered, and drops the stream records
the transaction published: the table is left exactly as before and a cancelled transaction
publishes nothing. Conditions, cancellation reasons (``ALL_OLD`` items included) and error types
are moto's own, unchanged: the loop below is moto's, line for line, except where it says
"journal". Proved by ``tests/unit/test_moto_journal.py`` (each case run on moto's original and on
the journal, compared).

Two deliberate differences, both where moto 5.2.5 is wrong: moto backs up a table only when the
transaction names it by name (not by ARN), and it does not roll back when an exception escapes
its per-item handler; the journal restores in both cases.

Two more narrowings of the same kind, each answering exactly like moto: a query starts from the
queried partition instead of sorting the whole table (``narrowed_query``), and the items of a
read (Scan, Query, GetItem, BatchGetItem) are written as JSON instead of by moto's generic
serializer, which took about 12 ms per item (``items_as_json``).

It is for the local run (``tools/local_api/``) and the test harness (``tests/conftest.py``);
production is DynamoDB and never imports moto.

Written against moto ``MOTO_VERSION`` only. ``install()`` raises ``MotoShapeError`` (it never
falls back silently) when the installed moto is another version, when the replaced method's
source is not the one this copy was made from, or when a model it relies on lost an attribute.
Upgrading moto is then a decision: read the new ``transact_write_items``, port this copy, update
``MOTO_VERSION`` and ``REPLACED_SOURCE_SHA256``, run ``tests/unit/test_moto_journal.py``.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import inspect
import json
import threading
from typing import Any

#: The moto release this module was written against (requirements-dev.txt pins it).
MOTO_VERSION = "5.2.5"
#: sha256 of ``inspect.getsource`` of each moto method replaced or narrowed here, in that release.
REPLACED_SOURCE_SHA256 = {
    "DynamoDBBackend.transact_write_items": (
        "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4"
    ),
    "Table.query": "002b4d00be6df07cf37f6cbe0132e5eb89455ae12a8e79b23db3fb492450f21e",
    "Table.all_items": "c80d2ee3c896acd0cab6ca35aaeae3ab3fb65858933f8a3403d4e027c240f31d",
    "ActionResult.execute_result": (
        "6333faa349b58671258985778d2aaf02d31e0617aae380442e4c683c36ab248d"
    ),
}

_install_lock = threading.Lock()
#: moto's own methods, while the patched ones are installed ("Class.method" -> function).
_originals: dict[str, Any] = {}
#: The (table, candidates) of the query running on this thread (see ``narrowed_query``).
_query_scope = threading.local()


class MotoShapeError(RuntimeError):
    """The installed moto is not the one the journal was written against."""


def check_shape() -> None:
    """Raise ``MotoShapeError`` unless moto is exactly what this module was written against."""
    import moto
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard, Table

    found = getattr(moto, "__version__", "unknown")
    if found != MOTO_VERSION:
        raise MotoShapeError(
            f"tools/moto_journal.py was written against moto {MOTO_VERSION}, found {found}: "
            "port the journal to the new transact_write_items (see the module docstring) before "
            "upgrading"
        )
    from moto.core.responses import ActionResult

    owners = {"DynamoDBBackend": DynamoDBBackend, "Table": Table, "ActionResult": ActionResult}
    for name, expected in REPLACED_SOURCE_SHA256.items():
        owner, method = name.split(".")
        replaced = _originals.get(name) or getattr(owners[owner], method)
        digest = hashlib.sha256(inspect.getsource(replaced).encode()).hexdigest()
        if digest != expected:
            raise MotoShapeError(
                f"moto's {name} is not the code tools/moto_journal.py was written for "
                f"(sha256 {digest[:12]}...): port the journal before using this moto"
            )
    # What the journal calls or restores besides the replaced methods.
    needed: dict[type, tuple[str, ...]] = {
        DynamoDBBackend: ("get_table", "get_keys_value", "put_item", "update_item", "delete_item"),
        Table: ("get_item", "put_item", "delete_item"),
        StreamShard: ("add",),
    }
    for model, methods in needed.items():
        for method in methods:
            if not callable(getattr(model, method, None)):
                raise MotoShapeError(f"moto's {model.__name__}.{method} is gone: port the journal")
    table_init = inspect.getsource(Table.__init__)
    for attribute in ("self.items = defaultdict(dict)", "self.stream_shard"):
        if attribute not in table_init:
            raise MotoShapeError(f"moto's Table no longer sets {attribute}: port the journal")
    if "self.items: list[StreamRecord] = []" not in inspect.getsource(StreamShard.__init__):
        raise MotoShapeError("moto's StreamShard no longer keeps its records in a list")


def install() -> None:
    """Install the journal, the narrowed query and the item writer (idempotent, whole process)."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    with _install_lock:
        check_shape()
        if _originals:
            return
        _originals["DynamoDBBackend.transact_write_items"] = DynamoDBBackend.transact_write_items
        _originals["Table.query"] = Table.query
        _originals["Table.all_items"] = Table.all_items
        _originals["ActionResult.execute_result"] = ActionResult.execute_result
        DynamoDBBackend.transact_write_items = journaled_transact_write_items  # type: ignore[method-assign]
        Table.query = narrowed_query  # type: ignore[method-assign]
        Table.all_items = scoped_all_items  # type: ignore[method-assign]
        ActionResult.execute_result = items_as_json  # type: ignore[method-assign]


def uninstall() -> None:
    """Put moto's own methods back (the tests compare both)."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    with _install_lock:
        if not _originals:
            return
        DynamoDBBackend.transact_write_items = _originals["DynamoDBBackend.transact_write_items"]  # type: ignore[method-assign]
        Table.query = _originals["Table.query"]  # type: ignore[method-assign]
        Table.all_items = _originals["Table.all_items"]  # type: ignore[method-assign]
        ActionResult.execute_result = _originals["ActionResult.execute_result"]  # type: ignore[method-assign]
        _originals.clear()


def installed() -> bool:
    return bool(_originals)


class Journal:
    """The previous state of every key a transaction touched, and of its tables' streams."""

    def __init__(self) -> None:
        #: (table, hash key, range key or None, partition existed, previous item copy or None)
        self._keys: list[tuple[Any, Any, Any, bool, Any]] = []
        #: id(table) -> (table, stream shard, its record list, its length)
        self._streams: dict[int, tuple[Any, Any, list[Any], int]] = {}
        #: id(dict) -> (dict, key order) for dicts a Delete may reorder on restore
        self._orders: dict[int, tuple[dict[Any, Any], list[Any]]] = {}

    def remember(self, table: Any, hash_key: Any, range_key: Any, *, deleting: bool) -> None:
        """Call before the transaction's item touches this key (and before moto reads it:
        a read of a missing key creates its empty partition)."""
        if id(table) not in self._streams:
            shard = table.stream_shard
            records = shard.items if shard is not None else []
            self._streams[id(table)] = (table, shard, records, len(records))
        items = table.items
        if table.range_key_attr is not None:
            partition = items.get(hash_key)  # .get: the defaultdict must not create it here
            existed = partition is not None
            previous = partition.get(range_key) if partition is not None else None
            container = partition
        else:
            existed = hash_key in items
            previous = items.get(hash_key)
            container = items
        if deleting and previous is not None and id(container) not in self._orders:
            # A deleted key comes back at the end of its dict: remember where it was.
            self._orders[id(container)] = (container, list(container))
        snapshot = copy.deepcopy(previous) if previous is not None else None
        self._keys.append((table, hash_key, range_key, existed, snapshot))

    def restore(self) -> None:
        """Every touched key and stream back to its state before the transaction."""
        for table, hash_key, range_key, existed, snapshot in reversed(self._keys):
            items = table.items
            if table.range_key_attr is not None:
                partition = items.get(hash_key)
                if snapshot is not None:
                    if partition is None:
                        partition = items[hash_key] = {}
                    partition[range_key] = snapshot
                elif partition is not None:
                    partition.pop(range_key, None)
                    if not existed and not partition:
                        del items[hash_key]
            elif snapshot is not None:
                items[hash_key] = snapshot
            else:
                items.pop(hash_key, None)
        for container, order in self._orders.values():
            if list(container) != [key for key in order if key in container]:
                entries = dict(container)
                container.clear()
                for key in order:
                    if key in entries:
                        container[key] = entries.pop(key)
                container.update(entries)
        for table, shard, records, length in self._streams.values():
            if shard is not None:
                del records[length:]
                shard.items = records
                table.stream_shard = shard


def journaled_transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's ``DynamoDBBackend.transact_write_items`` with a journal instead of a deep
    copy of every named table."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    journal = Journal()  # journal: instead of copy.deepcopy of every named table

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    try:  # journal: restore on any exception, not only moto's two
        for item in transact_items:
            original_item: dict[str, Any] | None = None
            if len(list(item.keys())) > 1:
                raise TransactWriteSingleOpException

            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")

                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                expression_attribute_names = op.get("ExpressionAttributeNames")
                expression_attribute_values = op.get("ExpressionAttributeValues")
                return_values_on_condition_check_failure = op.get(
                    "ReturnValuesOnConditionCheckFailure"
                )

                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]

                check_unicity(table_name, key)

                # journal: moto's ``current = self.get_item(table_name, key)``, in its three
                # steps (same calls, same exceptions), with the key remembered before the read.
                table = self.get_table(table_name)
                hash_key, range_key = self.get_keys_value(table, key)
                journal.remember(table, hash_key, range_key, deleting=op_type == "Delete")
                current = table.get_item(hash_key, range_key, None)
                if condition_expression is not None:
                    condition_op = get_filter_expression(
                        condition_expression,
                        expression_attribute_names,
                        expression_attribute_values,
                    )
                    if not condition_op.expr(current):
                        if return_values_on_condition_check_failure == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)

                if op_type == "Put":
                    attrs = op["Item"]
                    self.put_item(
                        table_name,
                        attrs,
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name,
                        key,
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                elif op_type == "Update":
                    update_expression = op["UpdateExpression"]
                    self.update_item(
                        table_name,
                        key,
                        update_expression=update_expression,
                        condition_expression=condition_expression,
                        expression_attribute_names=expression_attribute_names,
                        expression_attribute_values=expression_attribute_values,
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                raise  # journal: restored below
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
            except Exception as e:
                errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]
    except BaseException:
        journal.restore()
        raise

    if any(code is not None for code, _, _ in errors):
        journal.restore()
        raise TransactionCanceledException(errors)


# Query without sorting the whole table ----------------------------------------------------------


def narrowed_query(self: Any, *args: Any, **kwargs: Any) -> Any:
    """moto's ``Table.query``, given only the candidates it would keep from ``all_items()``.

    moto 5.2.5's query starts from ``all_items()``, which lists and sorts every item of the table
    (O(n log n) comparisons of moto's slow attribute values: 0.5-0.8 s per query at 50,000 items).
    Same answers with less work:
    - a table query (range-key table, no index): moto keeps the items whose hash key equals the
      queried one, in ``all_items()`` order, i.e. by range key. That is the key's partition,
      sorted by range key.
    - an index query: moto filters the candidates and then sorts them by the index keys followed
      by the table's own keys, a total order: the candidates' order does not matter, so they are
      given unsorted.
    Everything else (scans, exports, tables without a range key) runs moto's code untouched.
    """
    original = _originals["Table.query"]
    arguments = _query_signature(original).bind(self, *args, **kwargs).arguments
    hash_key = arguments.get("hash_key")
    if arguments.get("index_name"):
        candidates = _unsorted_items(self)
    elif self.range_key_attr is not None and hash_key is not None:
        partition = self.items.get(hash_key)  # .get: a query must not create a partition
        candidates = (
            sorted(partition.values(), key=lambda item: item.range_key) if partition else []
        )
    else:
        return original(self, *args, **kwargs)
    previous = getattr(_query_scope, "current", None)
    _query_scope.current = (self, candidates)
    try:
        return original(self, *args, **kwargs)
    finally:
        _query_scope.current = previous


def scoped_all_items(self: Any) -> Any:
    """``all_items()``: the narrowed candidates inside ``narrowed_query`` on this table and
    thread, moto's own list everywhere else."""
    scope = getattr(_query_scope, "current", None)
    if scope is not None and scope[0] is self:
        return list(scope[1])
    return _originals["Table.all_items"](self)


@functools.cache
def _query_signature(query: Any) -> inspect.Signature:
    return inspect.signature(query)


def _unsorted_items(table: Any) -> list[Any]:
    if table.range_key_attr is None:
        return list(table.items.values())
    return [item for partition in table.items.values() for item in partition.values()]


# Items written as JSON ---------------------------------------------------------------------------

#: The answer member holding the items of each DynamoDB read.
_ITEMS_OF = {"Scan": "Items", "Query": "Items", "GetItem": "Item", "BatchGetItem": "Responses"}


def _blob(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not JSON: {type(value).__name__}")


def items_as_json(self: Any, context: Any) -> Any:
    """moto's ``ActionResult.execute_result``, with the items of a DynamoDB read written by
    ``json`` instead of moto's generic serializer.

    moto 5.2.5 serializes every answer by walking botocore's shapes value by value: about 12 ms
    per item, so a Scan of 1,440 items took 17 s and the audit of a 50,000-card table would take
    hours (``bench/audit.py``). Items are AttributeValue maps that are already in the wire's JSON
    form (``DynamoResult`` turned moto's values into them), so ``json`` writes them as the
    serializer does, blobs in base64; the rest of the answer (counts, keys, consumed capacity,
    headers, status) is still the serializer's. Proved equal, answer by answer, by
    ``tests/unit/test_moto_journal.py::test_reads_answer_exactly_like_moto``.
    """
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoResult

    original = _originals["ActionResult.execute_result"]
    member = _ITEMS_OF.get(getattr(context.operation_model, "name", ""))
    result = self.result
    if (
        member is None
        or not isinstance(self, DynamoResult)
        or not isinstance(result, dict)
        or member not in result
    ):
        return original(self, context)
    rest = ActionResult({name: value for name, value in result.items() if name != member})
    status, headers, body = original(rest, context)
    answer = json.loads(body)
    answer[member] = result[member]
    return status, headers, json.dumps(answer, default=_blob)
