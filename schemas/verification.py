"""What a declaration's audit trail proves, checked in one place (SPEC §6, docs/security.md).

The hash chain alone proves only that the events agree with each other. Verification
here also holds what users read to the chain (the stored body to the SHA-256 in the
`received` event, the stored verdict to the SHA-256 in the `verdict` event) and the
chain's head to an HMAC under the service's key (`ACCORD_AUDIT_KEY`), so that a chain
rebuilt from scratch by someone who can write to Redis, but does not hold the key, does
not verify. Checkpoints are HMACs, chained, over the heads that changed since the one
before: they show what existed at a time. Pure functions: the store, the API, the
dashboard and the export all call `verify_declaration`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from schemas import summary
from schemas.audit import (
    GENESIS,
    AuditEvent,
    CheckpointCover,
    Verification,
    canonical_json,
    verify_stored,
)

HEAD_CONTEXT = "accord/audit-head/1"
CHECKPOINT_CONTEXT = "accord/audit-checkpoint/1"
TIP_CONTEXT = "accord/audit-checkpoint-tip/1"
NO_KEY = "no audit key is configured: the chain is checked, not who wrote it"

# The status each closing event leaves a declaration in; without one it is still open.
CLOSING_EVENTS = {"verdict": "decided", "failed": "failed", "cancelled": "cancelled"}
OPEN_STATUSES = ("queued", "evaluating", "pending_allocation")
# the events whose write sets decided_at, which they record (store/declarations.py, `written_events`)
DECIDING_EVENTS = ("verdict", "failed")


def served_verdict(stored: str | bytes) -> dict[str, Any]:
    """The verdict as `GET /v1/declarations/{id}` serves it: the stored verdict without
    the evaluation date it was computed for (which the `evaluated` event records).
    (orjson reads what json does for a verdict's strings, whole numbers, booleans and
    nulls, four times faster; what it refuses is no verdict: a ValueError either way.)"""
    verdict = orjson.loads(stored)
    if not isinstance(verdict, dict):
        raise ValueError("a verdict is a JSON object")
    verdict.pop("as_of", None)
    return verdict


def verdict_sha256(stored: str | bytes) -> str:
    """The SHA-256 of the canonical JSON of the verdict as served."""
    return hashlib.sha256(canonical_json(served_verdict(stored)).encode()).hexdigest()


def body_sha256(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def head_mac(key: bytes, declaration_id: str, head: str, events: int) -> str:
    """HMAC-SHA256 under the service's key of (declaration id, audit head, event count)."""
    message = canonical_json([HEAD_CONTEXT, declaration_id, head, events]).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class Checkpoint(BaseModel):
    """One link of the checkpoint chain: the (declaration id, head, event count) of every
    declaration whose trail changed since checkpoint `seq - 1`, at `at`, authenticated
    together with the previous checkpoint's MAC."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    at: str
    declarations: tuple[tuple[str, str, int], ...]
    prev: str
    mac: str

    @staticmethod
    def digest(
        key: bytes, seq: int, at: str, declarations: Sequence[tuple[str, str, int]], prev: str
    ) -> str:
        message = canonical_json(
            [CHECKPOINT_CONTEXT, seq, at, [list(item) for item in declarations], prev]
        ).encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    @classmethod
    def make(
        cls, key: bytes, seq: int, at: str, declarations: Sequence[tuple[str, str, int]], prev: str
    ) -> Checkpoint:
        entries = tuple(sorted(declarations))
        return cls(
            seq=seq,
            at=at,
            declarations=entries,
            prev=prev,
            mac=cls.digest(key, seq, at, entries, prev),
        )

    def authentic(self, key: bytes) -> bool:
        expected = self.digest(key, self.seq, self.at, self.declarations, self.prev)
        return hmac.compare_digest(expected, self.mac)


def verify_checkpoints(raw: Sequence[str | bytes], key: bytes) -> tuple[int, str | None]:
    """Check a whole checkpoint list: each one authentic, numbered in order and linked to
    the one before. Returns how many verified, and the problem with the next, if any."""
    prev = GENESIS
    for position, item in enumerate(raw, start=1):
        try:
            checkpoint = Checkpoint.model_validate_json(item)
        except ValueError:
            return position - 1, f"checkpoint {position} is not a valid checkpoint"
        if checkpoint.seq != position or checkpoint.prev != prev:
            return position - 1, f"checkpoint {position} is missing, reordered or unlinked"
        if not checkpoint.authentic(key):
            return position - 1, f"checkpoint {position} is not authenticated by the key"
        prev = checkpoint.mac
    return len(raw), None


class CheckpointTip(BaseModel):
    """The newest checkpoint as its writer saw it, keyed apart (`tip`): a list cut short
    ends before it, and the tip of an earlier checkpoint cannot be made from the list
    without the key, only replayed by someone who saved it while it was the newest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    mac: str
    tip: str

    @staticmethod
    def digest(key: bytes, seq: int, mac: str) -> str:
        message = canonical_json([TIP_CONTEXT, seq, mac]).encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    @classmethod
    def of(cls, key: bytes, checkpoint: Checkpoint) -> CheckpointTip:
        return cls(
            seq=checkpoint.seq,
            mac=checkpoint.mac,
            tip=cls.digest(key, checkpoint.seq, checkpoint.mac),
        )


def verify_tip(
    tip: str | bytes | None, last: str | bytes | None, length: int, key: bytes
) -> str | None:
    """The problem with the end of a checkpoint list of `length` entries, the last being
    `last`, against its keyed tip; None when the list ends where the tip says."""
    if tip is None:
        return None if length == 0 else "the checkpoint list has no keyed tip"
    try:
        found = CheckpointTip.model_validate_json(tip)
    except ValueError:
        return "the checkpoint list's tip is not a valid tip"
    if not hmac.compare_digest(found.tip, CheckpointTip.digest(key, found.seq, found.mac)):
        return "the checkpoint list's tip is not authenticated by the key"
    try:
        ending = Checkpoint.model_validate_json(last) if last is not None else None
    except ValueError:
        ending = None
    if length != found.seq or ending is None or ending.mac != found.mac:
        return (
            f"the checkpoint list ends at {length}, its keyed tip at checkpoint {found.seq}: "
            "the list was cut short or rolled back"
        )
    return None


def unreadable(seq: int, problem: str) -> Verification:
    """A trail whose stored value holding event `seq` onwards does not read back (changed
    by hand, store/packing.py): it fails there, and nothing of it is authenticated."""
    return Verification(verified=False, events=0, head=GENESIS, first_bad_seq=seq, problem=problem)


def _failed(events: list[AuditEvent], head: str, seq: int, problem: str) -> Verification:
    return Verification(
        verified=False, events=len(events), head=head, first_bad_seq=seq, problem=problem
    )


def _check_body(events: list[AuditEvent], head: str, body: str) -> Verification | None:
    received = events[0] if events else None
    if received is None or received.type != "received" or "body_sha256" not in received.data:
        return _failed(events, head, 1, "the trail does not begin with the body's received event")
    if received.data["body_sha256"] != body_sha256(body):
        return _failed(
            events, head, 1,
            "the stored body does not match the SHA-256 recorded in event 1 (received)",
        )  # fmt: skip
    return None


def _check_verdict(events: list[AuditEvent], head: str, verdict: str | None) -> Verification | None:
    event = next((item for item in reversed(events) if item.type == "verdict"), None)
    if event is None:
        if verdict is None:
            return None
        return _failed(
            events, head, len(events) + 1, "the stored verdict has no verdict event in the trail"
        )
    if verdict is None:
        return _failed(
            events, head, event.seq,
            f"the verdict recorded in event {event.seq} is missing from the declaration",
        )  # fmt: skip
    try:
        served = served_verdict(verdict)
        if "verdict_sha256" in event.data:
            matches = event.data["verdict_sha256"] == verdict_sha256(verdict)
        else:  # a trail written before verdicts were hashed: the figures it does hold
            matches = (
                event.data.get("outcome") == served.get("outcome")
                and event.data.get("total_duty") == served.get("total_duty")
                and event.data.get("findings")
                == [item.get("rule") for item in served.get("findings") or []]
            )
    except (ValueError, TypeError, AttributeError):  # not JSON, or not a verdict's shape
        matches = False
    if not matches:
        return _failed(
            events, head, event.seq,
            f"the stored verdict does not match the one recorded in event {event.seq} (verdict)",
        )  # fmt: skip
    return None


def _check_checkpoint(
    declaration_id: str, events: list[AuditEvent], checkpoint: Checkpoint, key: bytes
) -> CheckpointCover | str:
    if not checkpoint.authentic(key):
        return f"checkpoint {checkpoint.seq} is not authenticated by the key"
    entry = next((item for item in checkpoint.declarations if item[0] == declaration_id), None)
    if entry is None:
        return f"checkpoint {checkpoint.seq} does not name this declaration"
    _, head, count = entry
    if count > len(events) or count < 1 or events[count - 1].hash != head:
        return (
            f"the trail contradicts checkpoint {checkpoint.seq} of {checkpoint.at}: "
            f"it held {count} events ending in {head[:12]}"
        )
    return CheckpointCover(
        seq=checkpoint.seq,
        at=checkpoint.at,
        events=count,
        head=head,
        covers="head" if count == len(events) else "prefix",
    )


class ServedState(BaseModel):
    """What a reader is served of a declaration beside its body, verdict and trail: the
    record's status, decided_at, business number and the list summary (schemas/summary.py;
    a field the record lacks is absent). Verification holds each to what the chain proves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    business_number: str
    status: str
    decided_at: str | None = None
    listed: dict[str, str] = {}


def _closing(events: list[AuditEvent], types: Sequence[str]) -> AuditEvent | None:
    return next((item for item in reversed(events) if item.type in types), None)


def _check_served(
    events: list[AuditEvent], head: str, body: str, verdict: str | None, served: ServedState
) -> Verification | None:
    """Status, decided_at, business number and list summary against the trail, the body
    and the verdict that verification has already held to the chain."""
    last = len(events)
    closing = _closing(events, tuple(CLOSING_EVENTS))
    if closing is None and served.status not in OPEN_STATUSES:
        return _failed(
            events, head, last, f"the status {served.status!r} has no event in the trail"
        )
    if closing is not None and served.status != CLOSING_EVENTS[closing.type]:
        return _failed(
            events, head, closing.seq,
            f"the status {served.status!r} contradicts event {closing.seq} ({closing.type})",
        )  # fmt: skip
    deciding = _closing(events, DECIDING_EVENTS)
    if deciding is None and served.decided_at is not None:
        return _failed(events, head, last, "decided_at is set, but no event decided it")
    # (trails recorded before decisions recorded their time do not hold it)
    recorded = deciding.data.get("decided_at", served.decided_at) if deciding else None
    if deciding is not None and recorded != served.decided_at:
        return _failed(
            events, head, deciding.seq,
            f"decided_at does not match the one recorded in event {deciding.seq}",
        )  # fmt: skip
    try:
        parsed = orjson.loads(body)
        importer = parsed.get("importer") if isinstance(parsed, dict) else None
        owner = importer.get("business_number") if isinstance(importer, dict) else None
    except ValueError:
        owner = None
    if owner != served.business_number:
        return _failed(events, head, 1, "the business number does not match the stored body")
    expected = summary.of_body(body)
    expected.update(summary.of_verdict(verdict) if verdict else {})
    for name, value in sorted(served.listed.items()):
        if name in summary.VERDICT_FIELDS and not verdict:
            wrong = value not in ("", "0")
        else:
            wrong = expected.get(name, value) != value
        if wrong:
            return _failed(
                events, head, last, f"the listed {name} does not match the body and verdict"
            )
    return None


def verify_declaration(
    declaration_id: str,
    raw: list[str | bytes],
    *,
    body: str,
    verdict: str | None,
    recorded_head: str,
    recorded_count: int,
    recorded_mac: str | None,
    key: bytes | None,
    checkpoint: str | bytes | None = None,
    served: ServedState | None = None,
    checkpoint_named: int | None = None,
    checkpoint_pointer: int | None = None,
    list_end: tuple[str | bytes | None, str | bytes | None, int] | None = None,
) -> tuple[list[AuditEvent], Verification]:
    """Verify a declaration's trail and what users read of it, and say where it fails:
    the chain (every event, its link, its end where the record says); the stored body
    against event 1; the stored verdict against the `verdict` event; the head's MAC
    under `key`; and the latest checkpoint naming the declaration, if any.

    `served`, when given, is held to the trail too (status, decided_at, business number,
    list summary). `checkpoint_named` is the newest checkpoint that names the declaration
    as the checkpoint index says, `checkpoint_pointer` the one the record points to, and
    `checkpoint` then the newer of the two as the list holds it: a pointer that disagrees
    with the index was removed or rolled back, a checkpoint either names that the list
    lacks was cut off it; either fails. `list_end` is (keyed tip, last checkpoint, count)
    of the checkpoint list, which must end where its tip says."""
    events, verification = verify_stored(raw, recorded_head, recorded_count)
    if not verification.verified:
        return events, verification
    head = verification.head
    failed = _check_body(events, head, body) or _check_verdict(events, head, verdict)
    if failed is None and served is not None:
        failed = _check_served(events, head, body, verdict, served)
    if failed is not None:
        return events, failed
    if key is None:
        return events, verification.model_copy(update={"authentication": NO_KEY})
    if not recorded_mac:
        return events, _failed(
            events, head, len(events), "head not authenticated: the record holds no MAC for it"
        )
    if not hmac.compare_digest(recorded_mac, head_mac(key, declaration_id, head, len(events))):
        return events, _failed(
            events, head, len(events),
            "head not authenticated: its MAC does not match under the service's key",
        )  # fmt: skip
    cover: CheckpointCover | None = None
    ended = verify_tip(*list_end, key) if list_end is not None else None
    if ended is not None:
        return events, _failed(events, head, len(events), ended)
    if checkpoint_named is not None and checkpoint_pointer != checkpoint_named:
        return events, _failed(
            events, head, len(events),
            f"checkpoint {checkpoint_named} names this declaration, but the record points to "
            f"{checkpoint_pointer or 'none'}: its pointer was removed or rolled back",
        )  # fmt: skip
    newest = max(checkpoint_named or 0, checkpoint_pointer or 0)
    if newest and checkpoint is None:
        return events, _failed(
            events, head, len(events),
            f"checkpoint {newest}, which names this declaration, is missing: the checkpoint "
            "list was cut short",
        )  # fmt: skip
    if checkpoint is not None:
        try:
            found = _check_checkpoint(
                declaration_id, events, Checkpoint.model_validate_json(checkpoint), key
            )
        except ValueError:
            found = "the checkpoint the record names is not a valid checkpoint"
        if isinstance(found, str):
            return events, _failed(events, head, len(events), found)
        if newest and found.seq != newest:
            return events, _failed(
                events, head, len(events), f"the list holds another checkpoint at {newest}"
            )
        cover = found
    return events, verification.model_copy(
        update={
            "authenticated": True,
            "authentication": "head authenticated with the service's key",
            "checkpoint": cover,
        }
    )
