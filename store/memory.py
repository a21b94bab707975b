"""Declarations in memory: the `Declarations` Protocol without Redis, for tests of code
that needs only declarations (a worker's handling of what it finds stored, say), and
for tools that want a store that vanishes with the process.

It keeps what Redis keeps, the same way: each declaration's fields as text, built and
read by the same functions as the Redis store's (`record_of`, `written_fields`,
`summary_of`), and its audit events chained by the same `chain_json`, under the
same MAC when it holds the audit key. tests/store/test_declarations_contract.py holds
both to the same assertions. What it has not got is the rest of the store: no ledger
(the permits a declaration names are the ones it was given), no archive, and the
decisions and counters a record sends to the audit and operations aggregates are kept
in `decisions` and `counters` for a test to look at. Each method holds a lock
throughout, as each Redis script is atomic.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from schemas import summary
from schemas.audit import GENESIS, AuditEvent, chain_json
from schemas.permit import Permit
from schemas.verification import head_mac
from store.declarations import (
    SUMMARY_READ,
    DeclarationRecord,
    Declarations,
    DeclarationSummary,
    OneAtATime,
    Submission,
    SubmitResult,
    Taken,
    Write,
    as_before_use,
    record_of,
    summary_of,
    written_events,
    written_fields,
)
from store.errors import NotFound
from store.keyspace import now_rfc3339

TAKEN_FROM = ("queued", "pending_allocation")
"""The statuses a worker takes a declaration from (store/lua/begin.lua)."""


class MemoryDeclarations(OneAtATime):
    """Declarations in this process's memory."""

    def __init__(
        self,
        permits: Mapping[tuple[str, str], Permit] | None = None,
        audit_key: bytes | None = None,
    ) -> None:
        # the permits declarations see, by (quota id, number), as the ledger would hold them
        self.permits = dict(permits or {})
        self.audit_key = audit_key
        self.decisions: list[tuple[str, str, int | None]] = []  # (rule, declaration, line)
        self.counters: Counter[str] = Counter()
        self._fields: dict[str, dict[str, str]] = {}
        self._events: dict[str, list[AuditEvent]] = {}
        self._pending: dict[str, float] = {}
        self._decided: dict[str, float] = {}
        self._lock = threading.Lock()

    # --- writes ------------------------------------------------------------------------

    def submit_many(self, items: Sequence[Submission]) -> list[SubmitResult]:
        with self._lock:
            return [self._submit_one(*item) for item in items]

    def _submit_one(
        self,
        declaration_id: str,
        body: str,
        sha: str,
        business_number: str,
        submitted_at: float,
        events: Sequence[tuple[str, dict[str, Any]]],
    ) -> SubmitResult:
        existing = self._fields.get(declaration_id)
        if existing is not None:
            outcome = "existing" if existing["sha"] == sha else "conflict"
            return SubmitResult(outcome, existing["status"])
        chained = _chained(GENESIS, 0, events)
        head = chained[-1].hash if chained else GENESIS
        self._fields[declaration_id] = {
            "id": declaration_id,
            "body": body,
            "sha": sha,
            "bn": business_number,
            "status": "queued",
            "submitted_at": repr(submitted_at),
            "audit_head": head,
            "audit_len": str(len(chained)),
            "attempts": "0",
            "seq": str(len(self._fields) + 1),
            **summary.of_body(body),
            **self._mac(declaration_id, head, len(chained)),
        }
        self._events[declaration_id] = chained
        self._pending[declaration_id] = submitted_at
        self.counters["submissions"] += 1
        return SubmitResult("created", "queued")

    def record_many(self, writes: Sequence[Write]) -> list[str]:
        with self._lock:
            outcomes = [self._record_one(write) for write in writes]
        for write, outcome in zip(writes, outcomes, strict=True):
            if outcome == "missing":  # after writing the others, as the Redis store does
                raise NotFound(f"declaration {write.declaration_id} does not exist")
        return outcomes

    def _record_one(self, write: Write) -> str:
        stored = self._fields.get(write.declaration_id)
        if stored is None:
            return "missing"
        if write.allowed and stored["status"] not in write.allowed:
            return "stale"
        # a `known_head` that moved meanwhile is chained again on the current head, as
        # the Redis store does after the script refuses it: here it is simply never read
        trail = self._events[write.declaration_id]
        chained = _chained(
            stored["audit_head"], len(trail), written_events(write.events, write.fields)
        )
        trail.extend(chained)
        stored.update(written_fields(write.fields))
        head = chained[-1].hash if chained else stored["audit_head"]
        stored.update(audit_head=head, audit_len=str(len(trail)))
        stored.update(self._mac(write.declaration_id, head, len(trail)))
        if write.done:
            self._pending.pop(write.declaration_id, None)
        if write.fields.get("status") in ("decided", "failed"):
            self._decided[write.declaration_id] = time.time()
        self.decisions += [(rule, write.declaration_id, line) for rule, line in write.decisions]
        self.counters.update(write.counters)
        return "ok"

    def _mac(self, declaration_id: str, head: str, length: int) -> dict[str, str]:
        if self.audit_key is None:
            return {}
        return {"audit_mac": head_mac(self.audit_key, declaration_id, head, length)}

    def begin_many(
        self, wanted: Sequence[tuple[str, Iterable[tuple[str, str]]]]
    ) -> list[tuple[Taken, dict[tuple[str, str], Permit]]]:
        with self._lock:
            out = []
            for declaration_id, permit_keys in wanted:
                permits = {
                    item: as_before_use(self.permits[item], declaration_id)
                    for item in sorted(set(permit_keys))
                    if item in self.permits
                }
                out.append((self._take(declaration_id), permits))
            return out

    def _take(self, declaration_id: str) -> Taken:
        stored = self._fields.get(declaration_id)
        status = stored["status"] if stored else ""
        if stored is None or status not in (*TAKEN_FROM, "evaluating"):
            return Taken(status, status, 0)
        if status == "evaluating":  # an earlier attempt was interrupted
            stored["attempts"] = str(int(stored["attempts"]) + 1)
        stored["status"] = "evaluating"
        return Taken("evaluating", status, int(stored["attempts"]))

    def touch_pending(self, declaration_id: str, at: float) -> None:
        with self._lock:
            if declaration_id in self._pending:
                self._pending[declaration_id] = at

    # --- reads -------------------------------------------------------------------------

    def get(self, declaration_id: str) -> DeclarationRecord | None:
        with self._lock:
            stored = self._fields.get(declaration_id)
            return None if stored is None else record_of(declaration_id, stored)

    def get_many(self, declaration_ids: Sequence[str]) -> list[DeclarationRecord]:
        with self._lock:
            return [
                record_of(declaration_id, self._fields[declaration_id])
                for declaration_id in declaration_ids
                if declaration_id in self._fields
            ]

    def audit(self, declaration_id: str) -> list[AuditEvent]:
        """The declaration's audit events (as `AuditTrails.audit` reads them)."""
        with self._lock:
            return list(self._events.get(declaration_id, []))

    def recent(
        self, limit: int = 50, business_number: str | None = None
    ) -> list[DeclarationSummary]:
        with self._lock:
            chosen = [
                stored
                for stored in self._fields.values()
                if business_number is None or stored["bn"] == business_number
            ]
            # newest first; ties as Redis breaks them in a sorted set, by id
            chosen.sort(key=lambda stored: (float(stored["submitted_at"]), stored["id"]))
            return [
                summary_of(stored["id"], {name: stored.get(name) for name in SUMMARY_READ})
                for stored in reversed(chosen[-limit:] if limit > 0 else [])
            ]

    def decided_between(self, start: float, end: float) -> list[str]:
        with self._lock:
            return _by_score(self._decided, start, end)

    def statuses(self, declaration_ids: Sequence[str]) -> list[str | None]:
        with self._lock:
            return [
                stored["status"] if (stored := self._fields.get(declaration_id)) else None
                for declaration_id in declaration_ids
            ]

    def pending_since(self, older_than: float, limit: int = 500) -> list[str]:
        with self._lock:
            return _by_score(self._pending, float("-inf"), older_than)[:limit]

    def pending_all(self) -> list[str]:
        with self._lock:
            return list(self._pending)


def _by_score(scores: dict[str, float], start: float, end: float) -> list[str]:
    """Members scored in [start, end], lowest first, ties by member: a sorted set's order."""
    return [
        member
        for member, score in sorted(scores.items(), key=lambda item: (item[1], item[0]))
        if start <= score <= end
    ]


# mypy holds the implementation to the Protocol here, whichever methods callers use
_IMPLEMENTS: type[Declarations] = MemoryDeclarations


def _chained(
    head: str, length: int, events: Sequence[tuple[str, dict[str, Any]]]
) -> list[AuditEvent]:
    """Events chained as the Redis store chains them, read back as the models it serves."""
    texts, _ = chain_json(head, length, now_rfc3339(), events)
    return [AuditEvent.model_validate_json(text) for text in texts]
