"""Declarations in Redis: storing one once, taking it for evaluation, recording what
happened to it (audit events, status and verdict in one atomic step), and the lists
and indexes that find it again.

Every write is one Lua script (`store/lua/`, keys by role and one payload, run by
`Keyspace.run`): `submit` stores a new declaration with its first audit events, `record`
appends events and sets fields if the status allows, `begin` takes a declaration for
evaluation. Audit events are chained here in Python (Redis Lua has no SHA-256): the
chain is computed on the head read beforehand, and the script refuses the append if the
head moved meanwhile. The body, the verdict and the events are packed here too (Redis
Lua has no zlib; store/packing.py): the scripts store them as they are handed in, and
read only the small fields, which stay text.

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
                         store/lua/record.lua)

`Declarations` is what callers use of it; `RedisDeclarations` is the one over Redis and
store/memory.py the one in memory, held to the same contract by
tests/store/test_declarations_contract.py.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from schemas import summary
from schemas.audit import GENESIS, chain_json
from schemas.permit import Permit
from schemas.quota import Allocation
from schemas.verification import DECIDING_EVENTS, head_mac
from store.errors import NotFound, NotReplicated, StoreError, translated
from store.keyspace import Keyspace, decoded, now_rfc3339
from store.ledger import allocation_of, permit_of
from store.packing import (
    document_of,
    events_of,
    pack,
    pack_document,
    pack_events,
    unpacked_text,
)
from store.webhooks import outbox_index


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


def _record_of(declaration_id: str, raw: Any) -> DeclarationRecord | None:
    if not raw:
        return None
    return record_of(declaration_id, raw)


def stored_fields(
    raw: Any, body: bytes | None, verdict: bytes | None, document: bytes | None = None
) -> dict[str, str | None]:
    """A declaration's fields as text, from its hash (HGETALL), its packed body and
    verdict, and its document: a record stored before packing holds them in the hash,
    which is read first (the record script drops the hash's old ones when it stores new
    ones), then their own keys, then the document."""
    fields = {decoded(key) or "": unpacked_text(value) for key, value in raw.items()}
    whole = document_of(document)
    kept = {"body": whole[0], "verdict": whole[1]} if whole is not None else {}
    for name, own in (("body", body), ("verdict", verdict)):
        if name in fields:
            continue
        if own is not None:
            fields[name] = unpacked_text(own)
        elif kept.get(name):
            fields[name] = kept[name]
    return fields


def trail_of(document: bytes | None, items: list[bytes]) -> list[bytes]:
    """A trail's events: those of its document, then those of its list."""
    whole = document_of(document)
    return [*(whole[2] if whole is not None else []), *events_of(items)]


def trail_items(texts: Sequence[str]) -> list[bytes | str]:
    """The items a write appends to a trail: its events as one packed item."""
    if not texts:
        return []
    packed = pack_events(list(texts))
    return [packed] if packed is not None else list(texts)


def decision_row(finding: tuple[str, str] | None, outcome: str | None) -> dict[str, str | None]:
    """What the decision list shows of one decision beside where and when."""
    severity, pack_version = finding or (None, None)
    return {"severity": severity, "pack_version": pack_version, "outcome": outcome}


ROW_FIELDS = ("severity", "pack_version", "outcome")
"""What the decision index keeps of a decision, in this order (`kept_row`)."""


def kept_row(row: Mapping[str, str | None]) -> list[str | None]:
    """A decision's row as the index keeps it: its values alone, short enough for the
    bucket's listpack (store/lua/record.lua)."""
    return [row[name] for name in ROW_FIELDS]


def row_of(kept: Any) -> dict[str, Any]:
    """A decision's row from what the index keeps: its values, or (indexed before the
    buckets) the row itself."""
    if isinstance(kept, list):
        return dict(zip(ROW_FIELDS, kept, strict=True))
    return dict(kept)


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


class RedisDeclarations(OneAtATime, Keyspace):
    """The declarations in Redis."""

    # replicas that must hold a submission before it counts as stored (Sentinel),
    # as long as the primary has that many connected (looked up every half second);
    # RedisStore.from_url sets them from REDIS_URL
    replicas = 0
    replica_wait_ms = 1000
    _replicas_connected = (0, -1.0)  # (count, when looked up)

    def _declaration_keys(self, declaration_id: str) -> dict[str, str]:
        return {
            "decl": self.key("decl", declaration_id),
            "pending": self.key("pending"),
            "audit": self.key("audit", declaration_id),
        }

    def _read(self, pipe: Any, declaration_id: str) -> None:
        """A declaration's hash, packed body, packed verdict and document, read in `pipe`
        (four replies, for `stored_fields`)."""
        pipe.hgetall(self.key("decl", declaration_id))
        pipe.get(self.key("body", declaration_id))
        pipe.get(self.key("verdict", declaration_id))
        pipe.get(self.key("doc", declaration_id))

    # --- writes ------------------------------------------------------------------------

    @translated
    def submit_many(self, items: Sequence[Submission]) -> list[SubmitResult]:
        """`submit` for many declarations in one round trip (each one atomic on its own)."""
        pipe = self.client.pipeline(transaction=False)
        for declaration_id, body, sha, business_number, submitted_at, events in items:
            texts, head = chain_json(GENESIS, 0, now_rfc3339(), events)
            trail = trail_items(texts)
            self.run(
                "submit",
                {
                    **self._declaration_keys(declaration_id),
                    "body": self.key("body", declaration_id),
                    "submitted": self.key("submitted"),
                    "submitted_bn": self.key("submitted", business_number),
                    "seq": self.key("submission_seq"),
                    "changed": self.key("audit", "changed"),
                    "changes": self.key("audit", "changes"),
                    "stats": self.key("stats"),
                },
                {
                    "id": declaration_id, "sha": sha, "bn": business_number,
                    "submitted_at": repr(submitted_at), "head": head, "length": str(len(texts)),
                    "mac": self._mac(declaration_id, head, len(texts)),
                    "summary": summary.of_body(body), "items": len(trail),
                },
                [pack(body, "body"), *trail],
                client=pipe,
            )  # fmt: skip
        replicas = self._replicas_to_wait()
        if replicas:  # on the same connection, so it waits for these very writes
            pipe.execute_command("WAIT", replicas, self.replica_wait_ms)  # type: ignore[no-untyped-call]
        replies = pipe.execute()
        if replicas and int(replies.pop()) < replicas:
            raise NotReplicated(
                f"no replica acknowledged the submission within {self.replica_wait_ms} ms"
            )
        return [
            SubmitResult(decoded(outcome) or "", decoded(status) or "")
            for outcome, status in replies
        ]

    def _replicas_to_wait(self) -> int:
        """The replicas a submission waits for: `replicas`, or fewer while the primary has
        fewer connected (its replica down, or lost in a failover): then a 202 rests on
        the primary alone, as docs/reliability.md states, rather than no 202 at all."""
        if not self.replicas:
            return 0
        count, when = self._replicas_connected
        if time.monotonic() - when > 0.5:
            info = self.client.info("replication")
            count = int(info.get("connected_slaves", 0))
            self._replicas_connected = (count, time.monotonic())
        return min(self.replicas, count)

    @translated
    def record_many(self, writes: Sequence[Write]) -> list[str]:
        """`record` for many declarations in one round trip (each one atomic on its own);
        a write whose chain head moved meanwhile is retried on its own."""
        priors = self._priors([write for write in writes if "verdict" in write.fields])
        pipe = self.client.pipeline(transaction=False)
        for write in writes:
            self.run("record", *self._record_call(write, priors), client=pipe)
        outcomes = [decoded(outcome) or "" for outcome, _status in pipe.execute()]
        for position, write in enumerate(writes):
            attempts = 0
            while outcomes[position] == "conflict":
                attempts += 1
                if attempts > 20:
                    raise StoreError(
                        f"the audit chain of {write.declaration_id} kept moving; gave up"
                    )
                fresh = dataclasses.replace(write, known_head=None)
                again = self._priors([fresh] if "verdict" in fresh.fields else [])
                outcome, _status = self.run("record", *self._record_call(fresh, again))
                outcomes[position] = decoded(outcome) or ""
            if outcomes[position] == "missing":
                raise NotFound(f"declaration {write.declaration_id} does not exist")
        return outcomes

    def _priors(self, writes: Sequence[Write]) -> dict[str, tuple[str, list[bytes]]]:
        """For writes that decide a declaration: its body and its trail's items as they
        are, which the decision packs into its document with the verdict; a declaration
        that has a document already, or no body, has none."""
        if not writes:
            return {}
        pipe = self.client.pipeline(transaction=True)  # the body and trail of one moment
        for write in writes:
            self._read(pipe, write.declaration_id)
            pipe.lrange(self.key("audit", write.declaration_id), 0, -1)
        replies = pipe.execute()
        out = {}
        for n, write in enumerate(writes):
            raw, body, verdict, document, items = replies[5 * n : 5 * n + 5]
            if not raw or document is not None:
                continue
            text = stored_fields(raw, body, verdict).get("body")
            if text is not None:
                out[write.declaration_id] = (text, list(items))
        return out

    def _record_call(
        self, write: Write, priors: Mapping[str, tuple[str, list[bytes]]]
    ) -> tuple[dict[str, str], dict[str, Any], list[bytes | str]]:
        """The keys (by role), payload and values of the record script for `write`; one
        that decides a declaration whose body and trail were read (`priors`) writes its
        document."""
        head, length = write.known_head or self._head(write.declaration_id)
        now = time.time()
        keys = {
            **self._declaration_keys(write.declaration_id),
            "body": self.key("body", write.declaration_id),
            "doc": self.key("doc", write.declaration_id),
            "verdict": self.key("verdict", write.declaration_id),
            "changed": self.key("audit", "changed"),
            "changes": self.key("audit", "changes"),
            "stats": self.key("stats"),
        }

        def role(key: str) -> str:
            """A key the index or the rows name, declared under its name in the keyspace."""
            name = key.removeprefix(f"{self.prefix}:")
            keys[name] = key
            return name

        outcome = write.fields.get("outcome")
        at_ms = int(now * 1000)  # never past the second the decision list shows
        decisions = [
            [role(self.key("decisions", rule)), f"{write.declaration_id}|{line or ''}", at_ms,
             orjson.dumps([at_ms, *kept_row(decision_row(write.findings.get((rule, line)), outcome))]).decode()]
            for rule, line in write.decisions
        ]  # fmt: skip
        index: list[list[Any]] = []
        if write.fields.get("status") in ("decided", "failed"):
            index.append([role(self.key("decided")), write.declaration_id, now])
        # the webhook event of a decision or a cancellation, in the same atomic step
        for key, member, score, *guard in outbox_index(
            self.prefix, write.declaration_id, write.fields.get("status"), now
        ):
            index.append([role(key), member, score, *(role(item) for item in guard)])
        texts, new_head = chain_json(
            head, length, now_rfc3339(), written_events(write.events, write.fields)
        )
        fields = written_fields(write.fields)
        verdict = fields.pop("verdict", None)
        prior = priors.get(write.declaration_id)
        document = (
            pack_document(prior[0], verdict, [*events_of(prior[1]), *(t.encode() for t in texts)])
            if prior is not None and verdict is not None
            else None
        )
        items = trail_items(texts) if document is None else []
        payload = {
            "allowed": ",".join(write.allowed), "head": head, "new_head": new_head,
            "count": len(texts), "fields": fields, "done": write.done,
            "mac": self._mac(write.declaration_id, new_head, length + len(texts)),
            "verdict": verdict is not None, "items": len(items), "index": index,
            "decisions": decisions, "counters": write.counters, "channel": self.changes_channel,
            "document": document is not None, "replaces": len(prior[1]) if prior else 0,
        }  # fmt: skip
        if document is not None:
            return keys, payload, [document]
        return keys, payload, [pack(verdict, "verdict") if verdict is not None else "", *items]

    def _mac(self, declaration_id: str, head: str, length: int) -> str:
        """The head's MAC, written with the head by the same script ('' without a key)."""
        if self.audit_key is None:
            return ""
        return head_mac(self.audit_key, declaration_id, head, length)

    def _head(self, declaration_id: str) -> tuple[str, int]:
        state = self.client.hmget(self.key("decl", declaration_id), "audit_head", "audit_len")
        if state[0] is None:
            raise NotFound(f"declaration {declaration_id} does not exist")
        return decoded(state[0]) or GENESIS, int(state[1] or 0)

    @translated
    def begin_many(
        self, wanted: Sequence[tuple[str, Iterable[tuple[str, str]]]]
    ) -> list[tuple[Taken, dict[tuple[str, str], Permit]]]:
        """Take declarations for evaluation (-> evaluating) and read the permits each
        names ((id, (quota id, permit number) pairs)) as it sees them, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        plans = []
        for declaration_id, permit_keys in wanted:
            keys = sorted(set(permit_keys))
            plans.append((declaration_id, keys))
            self.run("begin", {"decl": self.key("decl", declaration_id)}, {}, client=pipe)
            for quota_id, number in keys:
                pipe.hgetall(self.ledger.key(f"{quota_id}|permit|{number}"))
        replies = pipe.execute()
        out = []
        position = 0
        for declaration_id, keys in plans:
            now, before, interrupted = replies[position]
            taken = Taken(decoded(now) or "", decoded(before) or "", int(interrupted))
            permits = {}
            for offset, item in enumerate(keys, start=1):
                permit = permit_of(replies[position + offset])
                if permit is not None:
                    permits[item] = as_before_use(permit, declaration_id)
            out.append((taken, permits))
            position += 1 + len(keys)
        return out

    # --- reads -------------------------------------------------------------------------

    @translated
    def get(self, declaration_id: str) -> DeclarationRecord | None:
        found = self.get_many([declaration_id])
        return found[0] if found else None

    @translated
    def get_many(self, declaration_ids: Sequence[str]) -> list[DeclarationRecord]:
        """The declarations that exist among `declaration_ids`, in order, in one round trip
        and one transaction: a decision moves the body and the verdict between keys, which a
        reader must see all before or all after."""
        pipe = self.client.pipeline(transaction=True)
        for declaration_id in declaration_ids:
            self._read(pipe, declaration_id)
        replies = pipe.execute()
        records = [
            _record_of(declaration_id, self._unarchived(*replies[4 * n : 4 * n + 4]))
            for n, declaration_id in enumerate(declaration_ids)
        ]
        return [record for record in records if record is not None]

    def _unarchived(
        self, raw: Any, body: bytes | None, verdict: bytes | None, document: bytes | None
    ) -> dict[str, str | None]:
        """A record as stored, or, for an archived stub, the archived record under what the
        stub holds: status, head, count, MAC and checkpoint come from Redis, never the file."""
        if not raw:
            return {}
        fields = stored_fields(raw, body, verdict, document)
        if "archive" not in fields:
            return fields
        line = self._archived_line(fields.get("id") or "", fields)
        return {**line["fields"], **fields}

    @translated
    def allocation(self, declaration_id: str) -> Allocation | None:
        """The declaration's allocation record, from the ledger or from its archive line.
        Not in `Declarations`: the record is the ledger's, which a store in memory has not."""
        found = self.ledger.allocation(declaration_id)
        if found is not None:
            return found
        stub = self._archived_stub(declaration_id)
        if stub is None:
            return None
        line = self._archived_line(declaration_id, stub)
        return None if line.get("alloc") is None else allocation_of(line["alloc"])

    @translated
    def recent(
        self, limit: int = 50, business_number: str | None = None
    ) -> list[DeclarationSummary]:
        """The summaries of the latest submissions, newest first; only one importer's when
        it is named. One round trip reads the summary fields of all of them, so a list
        costs the same whatever the size of the declarations in it."""
        index = self.key("submitted", business_number) if business_number else self.key("submitted")
        ids = [decoded(item) or "" for item in self.client.zrevrange(index, 0, limit - 1)]
        pipe = self.client.pipeline(transaction=False)
        for declaration_id in ids:
            pipe.hmget(self.key("decl", declaration_id), SUMMARY_READ)
        out = []
        for declaration_id, raw in zip(ids, pipe.execute(), strict=True):
            fields = dict(zip(SUMMARY_READ, (decoded(value) for value in raw), strict=True))
            if fields["id"] is None:
                continue
            if _unsummarised(fields):
                fields = self._summarise_once(declaration_id, fields)
            out.append(summary_of(declaration_id, fields))
        return out

    def _summarise_once(
        self, declaration_id: str, fields: dict[str, str | None]
    ) -> dict[str, str | None]:
        """A declaration stored before summaries were kept: derive its summary from the
        whole record this once, and keep it, so that the next list reads only the summary."""
        record = self.get(declaration_id)
        if record is None:
            return fields
        derived = summary.of_body(record.body)
        if record.verdict:
            derived.update(summary.of_verdict(record.verdict))
        self.run(
            "summarise",
            {"decl": self.key("decl", declaration_id)},
            {"head": record.audit_head, "fields": derived},
        )
        return {
            **fields,
            **derived,
            "status": record.status,
            "decided_at": record.decided_at,
        }

    @translated
    def decided_between(self, start: float, end: float) -> list[str]:
        """Declarations decided in [start, end] (epoch seconds), oldest first."""
        raw = self.client.zrangebyscore(self.key("decided"), start, end)
        return [decoded(item) or "" for item in raw]

    @translated
    def line_counts(self, declaration_ids: Sequence[str]) -> list[int]:
        """How many lines each declaration has, from its summary (1 when it has none):
        what a task of them weighs, read without their bodies."""
        pipe = self.client.pipeline(transaction=False)
        for declaration_id in declaration_ids:
            pipe.hget(self.key("decl", declaration_id), "line_count")
        return [max(int(decoded(value) or 1), 1) for value in pipe.execute()]

    @translated
    def statuses(self, declaration_ids: Sequence[str]) -> list[str | None]:
        pipe = self.client.pipeline(transaction=False)
        for declaration_id in declaration_ids:
            pipe.hget(self.key("decl", declaration_id), "status")
        return [decoded(value) for value in pipe.execute()]

    @translated
    def pending_since(self, older_than: float, limit: int = 500) -> list[str]:
        """Declarations stored before `older_than` (epoch seconds) that have no verdict."""
        raw = self.client.zrangebyscore(self.key("pending"), "-inf", older_than, 0, limit)
        return [decoded(item) or "" for item in raw]

    @translated
    def pending_all(self) -> list[str]:
        """Every declaration stored without a verdict (SCAN: each one that stays pending
        throughout is listed at least once)."""
        return [decoded(item) or "" for item, _ in self.client.zscan_iter(self.key("pending"))]

    @translated
    def touch_pending(self, declaration_id: str, at: float) -> None:
        """Push a re-enqueued declaration to the back of the sweeper's queue."""
        self.client.zadd(self.key("pending"), {declaration_id: at}, xx=True)


# mypy holds the implementation to the Protocol here, whichever methods callers use
_IMPLEMENTS: type[Declarations] = RedisDeclarations
