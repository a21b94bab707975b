"""The stored layout of a declaration: how its record is kept in Redis and read back,
packed (store/packing.py) or, for a record stored before packing, as text.

The body, the verdict and the events are packed here in Python (Redis Lua has no zlib):
the scripts (store/lua/) store them as they are handed in, and read only the small
fields, which stay text. A read takes the hash, the body, the verdict and the document
of one moment (store/declaration_reads.py) and joins them here.

Keys, under the store's prefix:
    decl:{id}            hash of small fields (so Redis keeps it a listpack): sha, bn,
                         status, audit_head, audit_len, audit_mac (HMAC of id, head and
                         length under the audit key), checkpoint (seq of the latest
                         checkpoint naming its head), and the summary lists read instead
                         of body and verdict (schemas/summary.py: importer_name,
                         accepted_at, line_count, outcome, total_duty, errors,
                         warnings), ...; a record stored before packing holds its body
                         and verdict here as text, and reads as it did
    body:{id}            string: the canonical body, packed
    verdict:{id}         string: the verdict, packed (when it cannot go in the document)
    audit:{id}           list: each write's audit events as one packed item (an event
                         stored before packing is an item of its own, as text); read by
                         store/audit.py
    doc:{id}             string: once decided, the body, the verdict and the trail up to
                         the decision as one packed document (store/packing.py), which
                         body:{id}, verdict:{id} and audit:{id} leave for; events written
                         after it go to audit:{id} again
    pending              sorted set of declarations without a verdict, by submission time
    submitted[:{bn}]     sorted sets of every (one importer's) submission, by time
    decided              sorted set of declarations decided or failed, by time
    decisions:{rule}:{n} hash: "declaration|line" -> [decision time (ms), what GET
                         /v1/decisions lists of it (severity, pack version, outcome)],
                         kept as it is decided, in buckets of at most 512 (store/audit.py,
                         store/lua/record.lua; store/decision_index.py)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from store.keyspace import decoded
from store.packing import Damaged, document_of, events_of, pack_events, unpacked_text


def stored_fields(
    raw: Any, body: bytes | None, verdict: bytes | None, document: bytes | None = None
) -> dict[str, str | None]:
    """A declaration's fields as text, from its hash (HGETALL), its packed body and
    verdict, and its document: a record stored before packing holds them in the hash,
    which is read first (the record script drops the hash's old ones when it stores new
    ones), then their own keys, then the document. Damaged names the key (its part)
    that does not read back."""
    part = "decl"
    try:
        fields = {decoded(key) or "": unpacked_text(value) for key, value in raw.items()}
        part = "doc"
        whole = document_of(document)
        kept = {"body": whole[0], "verdict": whole[1]} if whole is not None else {}
        for name, own in (("body", body), ("verdict", verdict)):
            if name in fields:
                continue
            if own is not None:
                part = name
                fields[name] = unpacked_text(own)
            elif kept.get(name):
                fields[name] = kept[name]
    except Damaged as exc:
        raise exc.of(part) from None
    return fields


def trail_of(document: bytes | None, items: list[bytes]) -> list[bytes]:
    """A trail's events: those of its document, then those of its list. Damaged names
    the key that does not read back and the first event it holds: 1 for the document,
    which holds the trail from its start."""
    try:
        whole = document_of(document)
    except Damaged as exc:
        raise exc.of("doc") from None
    events = whole[2] if whole is not None else []
    try:
        return [*events, *events_of(items)]
    except Damaged as exc:
        seq = len(events) + 1
        for item in items:  # the item that does not read back, and the events before it
            try:
                seq += len(events_of([item]))
            except Damaged:
                break
        raise exc.of("audit", seq) from None


def trail_items(texts: Sequence[str]) -> list[bytes | str]:
    """The items a write appends to a trail: its events as one packed item."""
    if not texts:
        return []
    packed = pack_events(list(texts))
    return [packed] if packed is not None else list(texts)
