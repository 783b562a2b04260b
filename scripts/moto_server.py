"""Start moto's server (the DynamoDB wire-protocol server of the tests) with
one change: a cancelled TransactWriteItems is rolled back item by item.

moto 5 takes a deep copy of every table a transaction names before it runs
the actions, and puts the copies back when the transaction is cancelled. A
copy costs time in proportion to the table, so every transaction gets slower
as a test writes (the editing stress tests write thousands of items, and
their requests took seconds by the end). Here the copy is skipped and the
items the actions address are saved instead; a cancelled transaction puts
exactly those back. What clients see is unchanged: the transaction is all or
nothing, with the same errors and cancellation reasons.

A second change: TransactWriteItems honours ClientRequestToken as DynamoDB
documents it. A call that succeeded, sent again with the same token within
ten minutes, succeeds again without being applied a second time. The store
sends a token with every transaction so that the SDK's retry of one whose
response was lost does not fail its own conditions.

Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT (the arguments of
moto_server).
"""

import copy
import sys
import threading
import time

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.server import main


class _TableCopySkipped:
    """Stands in for the copy module inside moto.dynamodb.models: a Table
    "copied" is the table itself; everything else is really copied."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


def _addressed(backend, transact_items):
    """The (table, hash key, range key) of every action that names an
    existing table and carries its key; others are left to moto to refuse."""
    out = []
    for action in transact_items:
        if not isinstance(action, dict) or len(action) != 1:
            continue
        (kind, op), = action.items()
        if not isinstance(op, dict):
            continue
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = op.get("Item") if kind == "Put" else op.get("Key")
        if not isinstance(key, dict) or table.hash_key_attr not in key:
            continue
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in key:
                continue
            range_key = DynamoType(key[table.range_key_attr])
        out.append((table, hash_key, range_key))
    return out


def _put_back(table, hash_key, range_key, item):
    """Makes the item at the key what it was: item, or absent when None."""
    if item is None:
        if table.get_item(hash_key, range_key) is not None:
            table.delete_item(hash_key, range_key)
        return
    if range_key is None:
        table.items[hash_key] = item
    else:
        table.items[hash_key][range_key] = item


_original = DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    saved = [
        (table, hk, rk, copy.deepcopy(table.get_item(hk, rk)))
        for table, hk, rk in _addressed(self, transact_items)
    ]
    try:
        return _original(self, transact_items)
    except Exception:
        # moto's own rollback put back the same table objects, a no-op
        # here; restore the saved items, the first action's copy last.
        for table, hk, rk, item in reversed(saved):
            _put_back(table, hk, rk, item)
        raise


# Idempotency window of ClientRequestToken, in seconds (DynamoDB: 10 minutes).
_TOKEN_WINDOW = 600
_tokens = {}  # token -> (expiry, result of the successful call)
_tokens_lock = threading.Lock()
_original_handler = DynamoHandler.transact_write_items


def handler_transact_write_items(self):
    token = self.body.get("ClientRequestToken")
    if not token:
        return _original_handler(self)
    now = time.monotonic()
    with _tokens_lock:
        for t in [t for t, (exp, _) in _tokens.items() if exp < now]:
            del _tokens[t]
        hit = _tokens.get(token)
    if hit is not None:
        return hit[1]
    # A call that fails is not remembered: sent again, it runs again.
    result = _original_handler(self)
    with _tokens_lock:
        _tokens[token] = (now + _TOKEN_WINDOW, result)
    return result


DynamoHandler.transact_write_items = handler_transact_write_items
dynamodb_models.copy = _TableCopySkipped()
DynamoDBBackend.transact_write_items = transact_write_items

if __name__ == "__main__":
    main(sys.argv[1:])
