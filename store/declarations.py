"""Declarations: what callers use of them (`Declarations`), the records a read gives
back and a write takes, and what both stores (Redis and memory) derive alike from a
write or a stored record.

The store's declarations are spread by job over these modules, each importing only the
ones above it:

    store/declarations.py       the Protocol, the record types, what both stores share
    store/layout.py             the stored layout: how a record is kept in Redis (its
                                keys, packed or as text) and read back
    store/decision_index.py     the decision index's rows, kept in buckets
    store/declaration_reads.py  the read path over Redis: records, lists, pending queues
    store/declaration_writes.py the write path over Redis: submit, record, begin; and
                                `RedisDeclarations`, the reads and the writes together

`Declarations` is what callers use; `RedisDeclarations` is the one over Redis and
store/memory.py the one in memory, held to the same contract by
tests/store/test_declarations_contract.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas import summary
from schemas.audit import GENESIS
from schemas.permit import Permit
from schemas.verification import DECIDING_EVENTS


@dataclass(frozen=True)
class DeclarationRecord:
    declaration_id: str
    body: str
    sha: str
    business_number: str
    status: str
    submitted_at: float
    decided_at: str | None
    verdict: str | None
    error: str | None
    audit_head: str
    audit_len: int
    attempts: int
    audit_mac: str | None = None
    checkpoint: int | None = None
    archive: str | None = None  # the archive file holding it, once archived
    # the list summary as stored (schemas/summary.py), which verification holds to the
    # body and verdict; a field not stored is absent
    listed: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeclarationSummary:
    """What a list shows of a declaration, read without its body or verdict."""

    declaration_id: str
    business_number: str
    status: str
    submitted_at: float
    decided_at: str | None
    importer_name: str
    accepted_at: str | None
    line_count: int
    outcome: str | None
    total_duty: str | None
    errors: int
    warnings: int
    currency: str = ""  # of total_duty


SUMMARY_READ = (
    "id", "bn", "status", "submitted_at", "decided_at", *summary.BODY_FIELDS,
    *summary.VERDICT_FIELDS, "audit_head",
)  # fmt: skip
"""The fields a list reads of each declaration (HMGET): never body or verdict."""


Submission = tuple[str, str, str, str, float, Sequence[tuple[str, dict[str, Any]]]]
"""(declaration id, canonical body, body sha256, business number, submitted at, audit events)"""


@dataclass(frozen=True)
class Write:
    """One atomic write to a declaration: audit events appended under `known_head` (read
    again when None), fields set, if its status is one of `allowed`."""

    declaration_id: str
    events: Sequence[tuple[str, dict[str, Any]]]
    fields: dict[str, str]
    allowed: tuple[str, ...]
    done: bool = False
    known_head: tuple[str, int] | None = None
    decisions: Sequence[tuple[str, int | None]] = ()
    counters: dict[str, int] = field(default_factory=dict)
    # (severity, pack version) of the verdict's finding at each decision, listed with it
    findings: Mapping[tuple[str, int | None], tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Taken:
    """A declaration as a worker took it: its status now and before, and how many
    earlier attempts were interrupted mid-evaluation."""

    status: str
    before: str
    interrupted: int


@dataclass(frozen=True)
class SubmitResult:
    outcome: str  # created | existing | conflict
    status: str


class Declarations(Protocol):
    """What callers use of the declarations: the API stores and cancels them, workers
    take and decide them, the sweeper and the dashboard list them."""

    def submit(
        self,
        declaration_id: str,
        body: str,
        sha: str,
        business_number: str,
        submitted_at: float,
        events: Sequence[tuple[str, dict[str, Any]]],
    ) -> SubmitResult:
        """Store a new declaration with its first audit events; never overwrite one."""
        ...

    def submit_many(self, items: Sequence[Submission]) -> list[SubmitResult]:
        """`submit` for many declarations (each one atomic on its own)."""
        ...

    def record(
        self,
        declaration_id: str,
        events: Sequence[tuple[str, dict[str, Any]]],
        fields: dict[str, str] | None = None,
        allowed: Iterable[str] = (),
        done: bool = False,
        known_head: tuple[str, int] | None = None,
        decisions: Iterable[tuple[str, int | None]] = (),
        counters: dict[str, int] | None = None,
    ) -> str:
        """Append audit events and set fields atomically if the status is one of
        `allowed` (any, when empty): 'ok', or 'stale' when it is not; NotFound when the
        declaration does not exist."""
        ...

    def record_many(self, writes: Sequence[Write]) -> list[str]:
        """`record` for many declarations (each one atomic on its own)."""
        ...

    def get(self, declaration_id: str) -> DeclarationRecord | None: ...

    def get_many(self, declaration_ids: Sequence[str]) -> list[DeclarationRecord]:
        """The declarations that exist among `declaration_ids`, in order."""
        ...

    def begin_many(
        self, wanted: Sequence[tuple[str, Iterable[tuple[str, str]]]]
    ) -> list[tuple[Taken, dict[tuple[str, str], Permit]]]:
        """Take each declaration for evaluation (queued or pending_allocation ->
        evaluating; found evaluating already, an interrupted attempt is counted) and read
        the permits it names ((quota id, number) pairs) as it sees them."""
        ...

    def recent(
        self, limit: int = 50, business_number: str | None = None
    ) -> list[DeclarationSummary]:
        """The summaries of the latest submissions, newest first (one importer's, if named)."""
        ...

    def decided_between(self, start: float, end: float) -> list[str]:
        """Declarations decided (or failed) in [start, end] (epoch seconds), oldest first."""
        ...

    def statuses(self, declaration_ids: Sequence[str]) -> list[str | None]: ...

    def pending_since(self, older_than: float, limit: int = 500) -> list[str]:
        """Declarations stored before `older_than` (epoch seconds) that have no verdict."""
        ...

    def pending_all(self) -> list[str]:
        """Every declaration stored without a verdict."""
        ...

    def touch_pending(self, declaration_id: str, at: float) -> None:
        """Push a re-enqueued declaration to the back of the sweeper's queue."""
        ...


def as_before_use(permit: Permit, declaration_id: str) -> Permit:
    """A permit this declaration already used (an evaluation that is run again after its
    allocation applied) is seen as it was before: issued, holding what it held."""
    if permit.status == "used" and permit.used_by == declaration_id:
        return permit.model_copy(update={"status": "issued", "used": 0, "used_by": None})
    return permit


def record_of(declaration_id: str, fields: Mapping[str, str | None]) -> DeclarationRecord:
    """A declaration's record from its stored fields (as text)."""
    return DeclarationRecord(
        declaration_id=fields["id"] or declaration_id,
        body=fields["body"] or "",
        sha=fields["sha"] or "",
        business_number=fields["bn"] or "",
        status=fields["status"] or "queued",
        submitted_at=float(fields["submitted_at"] or 0),
        decided_at=fields.get("decided_at"),
        verdict=fields.get("verdict"),
        error=fields.get("error"),
        audit_head=fields.get("audit_head") or GENESIS,
        audit_len=int(fields.get("audit_len") or 0),
        attempts=int(fields.get("attempts") or 0),
        audit_mac=fields.get("audit_mac"),
        checkpoint=int(fields.get("checkpoint") or 0) or None,
        archive=fields.get("archive"),
        listed={name: value for name in LISTED if (value := fields.get(name)) is not None},
    )


LISTED = (*summary.BODY_FIELDS, *summary.VERDICT_FIELDS)


def written_events(
    events: Sequence[tuple[str, dict[str, Any]]], fields: Mapping[str, str]
) -> Sequence[tuple[str, dict[str, Any]]]:
    """The events a record appends: the one that decides a declaration (its verdict, or
    its failure) records the decided_at the same write sets, so that the chain vouches
    for the time a reader is served (schemas/verification.py)."""
    decided_at = fields.get("decided_at")
    if decided_at is None:
        return events
    deciding = max(
        (position for position, (kind, _) in enumerate(events) if kind in DECIDING_EVENTS),
        default=None,
    )
    if deciding is None:
        return events
    kind, data = events[deciding]
    return [*events[:deciding], (kind, {**data, "decided_at": decided_at}), *events[deciding + 1 :]]


def written_fields(fields: dict[str, str]) -> dict[str, str]:
    """The fields a record sets: a verdict brings its summary, since lists read the
    summary and never the verdict."""
    if "verdict" in fields:
        return {**summary.of_verdict(fields["verdict"]), **fields}
    return fields


def summary_of(declaration_id: str, fields: dict[str, str | None]) -> DeclarationSummary:
    """A list's row from the fields of SUMMARY_READ."""
    return DeclarationSummary(
        declaration_id=fields["id"] or declaration_id,
        business_number=fields["bn"] or "",
        status=fields["status"] or "queued",
        submitted_at=float(fields["submitted_at"] or 0),
        decided_at=fields["decided_at"] or None,
        importer_name=fields["importer_name"] or "",
        accepted_at=fields["accepted_at"] or None,
        line_count=int(fields["line_count"] or 0),
        outcome=fields["outcome"] or None,
        total_duty=fields["total_duty"] or None,
        errors=int(fields["errors"] or 0),
        warnings=int(fields["warnings"] or 0),
        currency=fields["currency"] or "",
    )


def _unsummarised(fields: dict[str, str | None]) -> bool:
    """Stored (or decided) before summaries were kept."""
    return (
        fields["line_count"] is None
        or fields["currency"] is None
        or (fields["status"] == "decided" and fields["errors"] is None)
    )


class OneAtATime:
    """`submit` and `record` of one declaration, as the batch of one that both stores
    write: one implementation of each, in `submit_many` and `record_many`."""

    def submit_many(self, items: Sequence[Submission]) -> list[SubmitResult]:
        raise NotImplementedError

    def record_many(self, writes: Sequence[Write]) -> list[str]:
        raise NotImplementedError

    def submit(
        self,
        declaration_id: str,
        body: str,
        sha: str,
        business_number: str,
        submitted_at: float,
        events: Sequence[tuple[str, dict[str, Any]]],
    ) -> SubmitResult:
        """Store a new declaration with its first audit events; never overwrite one."""
        return self.submit_many(
            [(declaration_id, body, sha, business_number, submitted_at, events)]
        )[0]

    def record(
        self,
        declaration_id: str,
        events: Sequence[tuple[str, dict[str, Any]]],
        fields: dict[str, str] | None = None,
        allowed: Iterable[str] = (),
        done: bool = False,
        known_head: tuple[str, int] | None = None,
        decisions: Iterable[tuple[str, int | None]] = (),
        counters: dict[str, int] | None = None,
    ) -> str:
        """Append audit events and set fields atomically, if the status is one of `allowed`.

        Returns 'ok', or 'stale' when the declaration had moved to another status (the
        caller lost a race, e.g. a duplicate delivery that finished first). A caller that
        read the chain's head already passes it as `known_head` and saves a round trip;
        if the head moved meanwhile, the script says so and the head is read again.
        `decisions` ((rule, line) pairs) go to the decision index and `counters` to the
        operational counters, in the same atomic step, only if the record is written."""
        write = Write(
            declaration_id, tuple(events), fields or {}, tuple(allowed), done, known_head,
            tuple(decisions), counters or {},
        )  # fmt: skip
        return self.record_many([write])[0]
