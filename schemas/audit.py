"""Audit events: one link of a declaration's hash chain (SPEC §6).

Each event's `hash` is the SHA-256 of the canonical JSON of the event without its
hash (sequence, time, type, data and the previous event's hash), so changing any
stored field, or removing or reordering an event, breaks verification at that event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """The one JSON spelling of a value: sorted keys, no spaces, UTF-8 kept as is (the
    same text as json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for the strings, whole numbers, booleans and nulls that audit events hold)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _digest(body: dict[str, Any]) -> str:
    """An event's hash: the SHA-256 of the canonical JSON of the event without its hash."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class AuditEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    at: str  # RFC 3339, UTC
    type: str
    data: dict[str, Any]
    prev: str
    hash: str

    @staticmethod
    def digest(seq: int, at: str, type: str, data: dict[str, Any], prev: str) -> str:
        return _digest({"seq": seq, "at": at, "type": type, "data": data, "prev": prev})

    @classmethod
    def chain(cls, seq: int, at: str, type: str, data: dict[str, Any], prev: str) -> AuditEvent:
        return cls(
            seq=seq,
            at=at,
            type=type,
            data=data,
            prev=prev,
            hash=cls.digest(seq, at, type, data, prev),
        )


def chain_json(
    head: str, length: int, at: str, events: Sequence[tuple[str, dict[str, Any]]]
) -> tuple[list[str], str]:
    """Events chained onto a trail of `length` events ending in `head`, all at `at`: the
    stored JSON of each (byte for byte `AuditEvent.chain(...).model_dump_json()`) and the
    new head. One pass with orjson instead of a validated model and a pydantic dump per
    event, which were two thirds of chaining a declaration's trail."""
    texts: list[str] = []
    for seq, (kind, data) in enumerate(events, start=length + 1):
        event: dict[str, Any] = {"seq": seq, "at": at, "type": kind, "data": data, "prev": head}
        head = event["hash"] = _digest(event)
        texts.append(orjson.dumps(event).decode())
    return texts, head


class CheckpointCover(BaseModel):
    """The latest checkpoint that names a declaration: when its trail held `events`
    events ending in `head`; `covers` says whether that is the whole trail or a prefix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    at: str
    events: int
    head: str
    covers: str  # head | prefix


class Verification(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verified: bool
    events: int
    head: str
    first_bad_seq: int | None = None
    problem: str | None = None
    # whether the head's MAC was checked under the service's key and matched; without a
    # key the chain's integrity is checked but not who wrote it (schemas/verification.py)
    authenticated: bool = False
    authentication: str | None = None
    checkpoint: CheckpointCover | None = None


def parse_events(raw: list[str | bytes]) -> tuple[list[AuditEvent], int | None]:
    """Stored events, and the position (1-based) of the first one that is not a valid
    event at all (garbled, or with fields added), if any."""
    events: list[AuditEvent] = []
    for position, item in enumerate(raw, start=1):
        try:
            events.append(AuditEvent.model_validate_json(item))
        except ValueError:
            return events, position
    return events, None


def verify_stored(
    raw: list[str | bytes], recorded_head: str | None = None, recorded_count: int | None = None
) -> tuple[list[AuditEvent], Verification]:
    """Verify a stored trail: every event parses, every hash recomputes and links, and the
    chain ends where the declaration's record says it ends (so removing events from the
    end does not go unnoticed)."""
    events, unreadable = parse_events(raw)
    if unreadable is not None:
        return events, Verification(
            verified=False, events=len(raw), head=GENESIS, first_bad_seq=unreadable,
            problem=f"event {unreadable} is not a valid audit event",
        )  # fmt: skip
    verification = verify_chain(events)
    if not verification.verified:
        return events, verification
    if recorded_count is not None and recorded_count != len(events):
        return events, Verification(
            verified=False, events=len(events), head=verification.head,
            first_bad_seq=min(len(events), recorded_count) + 1,
            problem=f"the record says {recorded_count} events, the trail holds {len(events)}",
        )  # fmt: skip
    if recorded_head is not None and recorded_head != verification.head:
        return events, Verification(
            verified=False, events=len(events), head=verification.head,
            first_bad_seq=len(events),
            problem="the trail does not end with the head the record holds",
        )  # fmt: skip
    return events, verification


def verify_chain(events: list[AuditEvent]) -> Verification:
    """Recompute every hash; name the first event that does not verify."""
    prev = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            return Verification(
                verified=False,
                events=len(events),
                head=prev,
                first_bad_seq=expected_seq,
                problem=f"event {expected_seq} is missing or out of order (found seq {event.seq})",
            )
        if event.prev != prev:
            return Verification(
                verified=False,
                events=len(events),
                head=prev,
                first_bad_seq=event.seq,
                problem=f"event {event.seq} does not link to the hash of event {event.seq - 1}",
            )
        if AuditEvent.digest(event.seq, event.at, event.type, event.data, event.prev) != event.hash:
            return Verification(
                verified=False,
                events=len(events),
                head=prev,
                first_bad_seq=event.seq,
                problem=f"event {event.seq} ({event.type}) was changed after it was written",
            )
        prev = event.hash
    return Verification(verified=True, events=len(events), head=prev)
