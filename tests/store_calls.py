"""Calls on the store that only tests make, written over its public methods so that the
store itself carries no method for tests alone."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from schemas.permit import Permit
from store import Declarations, Taken
from store.audit import RedisAuditTrails
from store.ledger import Ledger
from store.packing import document_of
from store.packs import RedisPackRecords


def begin(
    store: Declarations, declaration_id: str, permit_keys: Iterable[tuple[str, str]] = ()
) -> tuple[Taken, dict[tuple[str, str], Permit]]:
    """Take one declaration for evaluation, as a worker's chunk of one does."""
    return store.begin_many([(declaration_id, permit_keys)])[0]


def checkpoints_raw(store: RedisAuditTrails) -> list[str | bytes]:
    """The whole checkpoint chain as stored, oldest first."""
    return list(store.client.lrange(store.checkpoints_key, 0, -1))


def measure_check_record(store: RedisPackRecords, record_sha256: str) -> dict[str, Any] | None:
    """A measure-check record by the digest a trail names it by."""
    raw = store.client.get(store.check_key(record_sha256))
    return None if raw is None else dict(json.loads(raw))


def vin_owner(ledger: Ledger, quota_id: str, vin: str) -> str | None:
    """The declaration that counted a VIN against a quota, if one did ({QUOTA}:vins)."""
    raw = ledger.client.hget(ledger.key(f"{quota_id}|vins"), vin)
    return None if raw is None else raw.decode()


def stored_trail(store: RedisAuditTrails, declaration_id: str) -> list[str]:
    """A declaration's audit events as stored, one text each (packed items unpacked)."""
    return [item.decode() if isinstance(item, bytes) else item
            for item in store.audit_raw(declaration_id)]  # fmt: skip


def rewrite_trail(store: RedisAuditTrails, declaration_id: str, events: list[str]) -> None:
    """Replace a declaration's stored audit events, as someone with write access to Redis
    could: one text per event, as a trail stored before packing holds them (a decided
    declaration's body and verdict leave its document for its hash, as then)."""
    key = store.key("audit", declaration_id)
    document = document_of(store.client.get(store.key("doc", declaration_id)))
    pipe = store.client.pipeline()
    if document is not None:  # its body and verdict stay, in the hash, as they were kept before
        pipe.hset(store.key("decl", declaration_id),
                  mapping={"body": document[0], "verdict": document[1]})  # fmt: skip
        pipe.delete(store.key("doc", declaration_id))
    pipe.delete(key)
    if events:
        pipe.rpush(key, *events)
    pipe.execute()


def change_stored_event(
    store: RedisAuditTrails, declaration_id: str, position: int, text: str
) -> None:
    """Replace the stored event at `position` (negative from the end) by `text`."""
    events = stored_trail(store, declaration_id)
    events[position] = text
    rewrite_trail(store, declaration_id, events)


def decision_index_as_before(store: RedisAuditTrails, rows: bool = True) -> None:
    """Rewrite every rule's decision index as a store kept it before its buckets: one
    sorted set of "declaration|line" by time (s) per rule, and, if `rows`, one hash of
    what was kept of each ({severity, pack_version, outcome})."""
    for raw in store.client.keys(store.key("decisions", "*:count")):
        index = raw.decode().removesuffix(":count")
        rule = index.removeprefix(store.key("decisions", ""))
        for number in range(1, int(store.client.get(raw) or 0) + 1):
            for member, kept in store.client.hgetall(f"{index}:{number}").items():
                at_ms, *values = json.loads(kept)
                store.client.zadd(index, {member: at_ms / 1000})
                if rows:
                    row = dict(zip(("severity", "pack_version", "outcome"), values, strict=True))
                    store.client.hset(store.key("decision_rows", rule), member, json.dumps(row))
            store.client.delete(f"{index}:{number}")
        store.client.delete(raw, f"{index}:first", f"{index}:last")


def declaration_keys(store: RedisAuditTrails, declaration_id: str) -> list[str]:
    """Every key that holds a declaration's record and trail (store/layout.py)."""
    return [store.key(name, declaration_id) for name in ("decl", "body", "verdict", "doc", "audit")]


def change_stored_byte(store: RedisAuditTrails, declaration_id: str, position: int) -> bytes:
    """Flip every bit of the byte at `position` of a decided declaration's packed document
    (doc:{id}), as someone with write access to Redis could; the value as it was."""
    key = store.key("doc", declaration_id)
    value = store.client.get(key)
    assert value is not None, f"{declaration_id} has no packed document"
    changed = bytearray(value)
    changed[position] ^= 0xFF
    store.client.set(key, bytes(changed))
    return bytes(value)
