"""Declarations, verdicts, audit trails, permits and the quota ledger in Redis.

Every write that must be atomic is one Lua script (`store/lua/`): storing a new
declaration, appending to its audit chain together with a status change, applying a
declaration's quota requests, giving them back on cancellation. Audit events are
chained here in Python (Redis Lua has no SHA-256): the chain is computed on the head
read beforehand, and the script refuses the append if the head moved meanwhile.

Keys, under a prefix (default `accord`, so tests can share one server):
    decl:{id}            hash: body, sha, bn, status, verdict, audit_head, audit_len,
                         audit_mac (HMAC of id, head and length under the audit key),
                         checkpoint (seq of the latest checkpoint naming its head), and
                         the summary lists read instead of body and verdict
                         (schemas/summary.py: importer_name, accepted_at, line_count,
                         outcome, total_duty, errors, warnings), ...
    audit:{id}           list of audit events (JSON)
    audit:changed        sorted set of declarations whose trail changed since the last
                         checkpoint, by audit:changes (a counter)
    audit:checkpoints    list of checkpoints (JSON, schemas/verification.py), oldest first
    pending              sorted set of declarations without a verdict, by submission time
    alloc:{id}           the declaration's allocation result (the idempotency record)
    allocreq:{id}        the requests that were applied, for cancellation
    {QUOTA}:...          the quota ledger: periods, events, permits, VINs, accounts
                         (store/ledger.py)
    decisions:{rule}     sorted set of "declaration|line" by decision time
    pack:{sha256}        the text of every rule pack version used
    checks:{sha256}      a measure-check record with its inputs, by its digest, kept once
    session:{id}         a dashboard session, until sign-out or its maximum age
    archive:scanned      where the last archive run stopped in `submitted` (store/retention.py)
    archive:lock         held by the archive run in progress

An archived declaration (store/archive.py) keeps in `decl:{id}` only its stub: the
record without body, verdict and error, plus `archive` (its day file), `archive_offset`
and `archived_at`; its audit list and allocation records are in the file. Reads look
there when they find a stub, and take the head, count, MAC and checkpoint from Redis.

Channel `{prefix}:changes`: the id of every declaration whose status a record changed
(published by the record script), which the API's long polls wait on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, cast

import orjson
import redis

from schemas import summary
from schemas.audit import GENESIS, AuditEvent, canonical_json
from schemas.permit import Permit
from schemas.quota import Allocation
from schemas.verification import Checkpoint, head_mac
from store import connection
from store.archive import Archive, ArchiveError
from store.errors import NotFound, NotReplicated, StoreError, StoreUnavailable, translated
from store.ledger import Ledger, allocation_of, permit_of


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def today() -> date:
    """The ledger's day for returns and cancellations: the UTC date (a declaration's
    own evaluation never uses the clock, only its accepted_at)."""
    return datetime.now(UTC).date()


def _lua(name: str) -> str:
    return resources.files("store").joinpath("lua", f"{name}.lua").read_text()


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


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


class RedisStore:
    """The store's one implementation; construct with `RedisStore.from_url`."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "accord",
        audit_key: bytes | None = None,
        archive_dir: Path | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        # where archived declarations are read back from (ACCORD_ARCHIVE_DIR)
        self.archive = Archive(archive_dir) if archive_dir is not None else None
        # heads are authenticated (and checkpoints written) only with the service's key
        self.audit_key = audit_key
        self._submit = client.register_script(_lua("submit"))
        self._record = client.register_script(_lua("record"))
        self._checkpoint = client.register_script(_lua("checkpoint"))
        self._begin = client.register_script(_lua("begin"))
        self._summarise = client.register_script(_lua("summarise"))
        self.ledger = Ledger(client, prefix)
        self._kept_packs: set[str] = set()
        self._kept_checks: set[str] = set()
        # replicas that must hold a submission before it counts as stored (Sentinel),
        # as long as the primary has that many connected (looked up every half second)
        self.replicas = 0
        self.replica_wait_ms = 1000
        self._replicas_connected = (0, -1.0)  # (count, when looked up)

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str = "accord",
        timeout: float = 5.0,
        audit_key: bytes | None = None,
        archive_dir: Path | None = None,
    ) -> RedisStore:
        store = cls(connection.client(url, timeout), prefix, audit_key, archive_dir)
        store.replicas = connection.replicas_to_wait(url)
        return store

    @property
    def changes_channel(self) -> str:
        return self.key("changes")

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _declaration_keys(self, declaration_id: str) -> list[str]:
        return [
            self.key("decl", declaration_id),
            self.key("pending"),
            self.key("audit", declaration_id),
        ]

    def close(self) -> None:
        self.client.close()

    @translated
    def ping(self) -> bool:
        return bool(self.client.ping())

    # --- declarations and their audit chains ----------------------------------------

    @translated
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

    @translated
    def submit_many(self, items: Sequence[Submission]) -> list[SubmitResult]:
        """`submit` for many declarations in one round trip (each one atomic on its own)."""
        pipe = self.client.pipeline(transaction=False)
        for declaration_id, body, sha, business_number, submitted_at, events in items:
            chained = self._chain(GENESIS, 0, events)
            self._submit(
                keys=[
                    *self._declaration_keys(declaration_id),
                    self.key("submitted"),
                    self.key("submitted", business_number),
                    self.key("submission_seq"),
                    self.key("audit", "changed"),
                    self.key("audit", "changes"),
                ],
                args=[
                    declaration_id, body, sha, business_number, repr(submitted_at),
                    json.dumps([event.model_dump_json() for event in chained]),
                    chained[-1].hash if chained else GENESIS, len(chained),
                    self._mac(declaration_id, chained[-1].hash if chained else GENESIS,
                              len(chained)),
                    orjson.dumps(summary.of_body(body)),
                ],
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
            SubmitResult(_text(outcome) or "", _text(status) or "") for outcome, status in replies
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

    @staticmethod
    def _chain(
        head: str, length: int, events: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[AuditEvent]:
        chained: list[AuditEvent] = []
        at = now_rfc3339()
        for offset, (kind, data) in enumerate(events, start=1):
            event = AuditEvent.chain(length + offset, at, kind, data, head)
            chained.append(event)
            head = event.hash
        return chained

    @translated
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

    @translated
    def record_many(self, writes: Sequence[Write]) -> list[str]:
        """`record` for many declarations in one round trip (each one atomic on its own);
        a write whose chain head moved meanwhile is retried on its own."""
        pipe = self.client.pipeline(transaction=False)
        for write in writes:
            self._record(
                keys=self._record_keys(write.declaration_id),
                args=self._record_args(write),
                client=pipe,
            )
        outcomes = [_text(outcome) or "" for outcome, _status in pipe.execute()]
        for position, write in enumerate(writes):
            attempts = 0
            while outcomes[position] == "conflict":
                attempts += 1
                if attempts > 20:
                    raise StoreError(
                        f"the audit chain of {write.declaration_id} kept moving; gave up"
                    )
                fresh = dataclasses.replace(write, known_head=None)
                outcome, _status = self._record(
                    keys=self._record_keys(write.declaration_id), args=self._record_args(fresh)
                )
                outcomes[position] = _text(outcome) or ""
            if outcomes[position] == "missing":
                raise NotFound(f"declaration {write.declaration_id} does not exist")
        return outcomes

    def _record_args(self, write: Write) -> list[Any]:
        head, length = write.known_head or self._head(write.declaration_id)
        now = time.time()
        index = [
            [self.key("decisions", rule), f"{write.declaration_id}|{line or ''}", now]
            for rule, line in write.decisions
        ]
        if write.fields.get("status") in ("decided", "failed"):
            index.append([self.key("decided"), write.declaration_id, now])
        extra = {
            "index": index,
            "counters": write.counters,
            "stats": self.key("stats"),
            "channel": self.changes_channel,
        }
        chained = self._chain(head, length, write.events)
        new_head = chained[-1].hash if chained else head
        fields = write.fields
        if "verdict" in fields:  # lists read the summary, never the verdict
            fields = {**summary.of_verdict(fields["verdict"]), **fields}
        return [
            ",".join(write.allowed), head,
            orjson.dumps([event.model_dump_json() for event in chained]),
            new_head,
            orjson.dumps(fields), "done" if write.done else "", orjson.dumps(extra),
            self._mac(write.declaration_id, new_head, length + len(chained)),
        ]  # fmt: skip

    def _record_keys(self, declaration_id: str) -> list[str]:
        return [
            *self._declaration_keys(declaration_id),
            self.key("audit", "changed"),
            self.key("audit", "changes"),
        ]

    def _mac(self, declaration_id: str, head: str, length: int) -> str:
        """The head's MAC, written with the head by the same script ('' without a key)."""
        if self.audit_key is None:
            return ""
        return head_mac(self.audit_key, declaration_id, head, length)

    def _head(self, declaration_id: str) -> tuple[str, int]:
        state = self.client.hmget(self.key("decl", declaration_id), "audit_head", "audit_len")
        if state[0] is None:
            raise NotFound(f"declaration {declaration_id} does not exist")
        return _text(state[0]) or GENESIS, int(state[1] or 0)

    @translated
    def get(self, declaration_id: str) -> DeclarationRecord | None:
        return self._record_of(
            declaration_id, self._unarchived(self.client.hgetall(self.key("decl", declaration_id)))
        )

    @translated
    def get_many(self, declaration_ids: Sequence[str]) -> list[DeclarationRecord]:
        """The declarations that exist among `declaration_ids`, in order, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for declaration_id in declaration_ids:
            pipe.hgetall(self.key("decl", declaration_id))
        records = [
            self._record_of(declaration_id, self._unarchived(raw))
            for declaration_id, raw in zip(declaration_ids, pipe.execute(), strict=True)
        ]
        return [record for record in records if record is not None]

    @staticmethod
    def _record_of(declaration_id: str, raw: Any) -> DeclarationRecord | None:
        if not raw:
            return None
        fields = {_text(key): _text(value) for key, value in raw.items()}
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
        )

    def _archived_line(self, declaration_id: str, stub: dict[str, str | None]) -> dict[str, Any]:
        if self.archive is None:
            raise ArchiveError(
                f"declaration {declaration_id} is archived and this process has no archive"
            )
        return self.archive.read(
            stub["archive"] or "", int(stub.get("archive_offset") or 0), declaration_id
        )

    def _unarchived(self, raw: Any) -> Any:
        """A record as stored, or, for an archived stub, the archived record under what the
        stub holds: status, head, count, MAC and checkpoint come from Redis, never the file."""
        if not raw or (b"archive" not in raw and "archive" not in raw):
            return raw
        stub = {_text(key) or "": _text(value) for key, value in raw.items()}
        line = self._archived_line(stub.get("id") or "", stub)
        return {**line["fields"], **stub}

    @translated
    def allocation(self, declaration_id: str) -> Allocation | None:
        """The declaration's allocation record, from the ledger or from its archive line."""
        found = self.ledger.allocation(declaration_id)
        if found is not None:
            return found
        stub = self.client.hmget(self.key("decl", declaration_id), "archive", "archive_offset")
        if stub[0] is None:
            return None
        line = self._archived_line(
            declaration_id, {"archive": _text(stub[0]), "archive_offset": _text(stub[1])}
        )
        return None if line.get("alloc") is None else allocation_of(line["alloc"])

    @translated
    def begin_many(
        self, wanted: Sequence[tuple[str, Iterable[tuple[str, str]]]]
    ) -> list[tuple[Taken, dict[tuple[str, str], Permit]]]:
        """`begin` for many declarations ((id, (quota id, permit number) pairs)) in one
        round trip."""
        pipe = self.client.pipeline(transaction=False)
        plans = []
        for declaration_id, permit_keys in wanted:
            keys = sorted(set(permit_keys))
            plans.append((declaration_id, keys))
            self._begin(keys=[self.key("decl", declaration_id)], client=pipe)
            for quota_id, number in keys:
                pipe.hgetall(self.ledger.key(f"{quota_id}|permit|{number}"))
        replies = pipe.execute()
        out = []
        position = 0
        for declaration_id, keys in plans:
            now, before, interrupted = replies[position]
            taken = Taken(_text(now) or "", _text(before) or "", int(interrupted))
            permits = {}
            for offset, item in enumerate(keys, start=1):
                permit = permit_of(replies[position + offset])
                if permit is not None:
                    permits[item] = _as_before_use(permit, declaration_id)
            out.append((taken, permits))
            position += 1 + len(keys)
        return out

    @translated
    def begin(
        self, declaration_id: str, permit_keys: Iterable[tuple[str, str]]
    ) -> tuple[Taken, dict[tuple[str, str], Permit]]:
        """Take a declaration for evaluation (-> evaluating) and read the permits it names,
        as it sees them, in one round trip."""
        return self.begin_many([(declaration_id, permit_keys)])[0]

    @translated
    def recent(
        self, limit: int = 50, business_number: str | None = None
    ) -> list[DeclarationSummary]:
        """The summaries of the latest submissions, newest first; only one importer's when
        it is named. One round trip reads the summary fields of all of them, so a list
        costs the same whatever the size of the declarations in it."""
        index = self.key("submitted", business_number) if business_number else self.key("submitted")
        ids = [_text(item) or "" for item in self.client.zrevrange(index, 0, limit - 1)]
        pipe = self.client.pipeline(transaction=False)
        for declaration_id in ids:
            pipe.hmget(self.key("decl", declaration_id), SUMMARY_READ)
        out = []
        for declaration_id, raw in zip(ids, pipe.execute(), strict=True):
            fields = dict(zip(SUMMARY_READ, (_text(value) for value in raw), strict=True))
            if fields["id"] is None:
                continue
            if _unsummarised(fields):
                fields = self._summarise_once(declaration_id, fields)
            out.append(_summary_of(declaration_id, fields))
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
        self._summarise(
            keys=[self.key("decl", declaration_id)],
            args=[record.audit_head, orjson.dumps(derived)],
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
        return [_text(item) or "" for item in raw]

    @translated
    def statuses(self, declaration_ids: Sequence[str]) -> list[str | None]:
        pipe = self.client.pipeline(transaction=False)
        for declaration_id in declaration_ids:
            pipe.hget(self.key("decl", declaration_id), "status")
        return [_text(value) for value in pipe.execute()]

    @translated
    def audit(self, declaration_id: str) -> list[AuditEvent]:
        return [AuditEvent.model_validate_json(item) for item in self.audit_raw(declaration_id)]

    @translated
    def audit_raw(self, declaration_id: str) -> list[str | bytes]:
        """The stored events as written, for verification that must survive bad ones (from
        the archive line for an archived declaration)."""
        events = list(self.client.lrange(self.key("audit", declaration_id), 0, -1))
        if events:
            return events
        stub = self.client.hmget(self.key("decl", declaration_id), "archive", "archive_offset")
        if stub[0] is None:
            return events
        line = self._archived_line(
            declaration_id, {"archive": _text(stub[0]), "archive_offset": _text(stub[1])}
        )
        return [str(event) for event in line.get("audit") or []]

    @translated
    def checkpoint_raw(self, seq: int) -> bytes | None:
        """Checkpoint `seq` as stored (1-based), for verification."""
        value = self.client.lindex(self.key("audit", "checkpoints"), seq - 1)
        return value if isinstance(value, bytes) else None

    @translated
    def checkpoints_raw(self) -> list[str | bytes]:
        return list(self.client.lrange(self.key("audit", "checkpoints"), 0, -1))

    @translated
    def write_checkpoint(self, at: str, limit: int = 5000) -> Checkpoint | None:
        """Checkpoint the heads of (at most `limit` of) the trails changed since the last
        checkpoint, oldest change first: one entry on the checkpoint chain, or None when
        nothing changed or there is no audit key. A trail that changes again meanwhile
        stays for the next checkpoint."""
        if self.audit_key is None:
            return None
        changed_key = self.key("audit", "changed")
        changed = cast(
            list[tuple[bytes, float]],
            self.client.zrange(changed_key, 0, limit - 1, withscores=True),
        )
        if not changed:
            return None
        ids = [_text(member) or "" for member, _ in changed]
        pipe = self.client.pipeline(transaction=False)
        for declaration_id in ids:
            pipe.hmget(self.key("decl", declaration_id), "audit_head", "audit_len")
        heads = [(_text(head), count) for head, count in pipe.execute()]
        entries = [
            (declaration_id, head, int(count))
            for declaration_id, (head, count) in zip(ids, heads, strict=True)
            if head is not None
        ]
        read = [
            [declaration_id, str(int(score)), head or ""]
            for declaration_id, (_, score), (head, _) in zip(ids, changed, heads, strict=True)
        ]
        for _ in range(5):  # another process appended one meanwhile: chain onto it
            last = self.client.lindex(self.key("audit", "checkpoints"), -1)
            previous = Checkpoint.model_validate_json(last) if last else None
            checkpoint = Checkpoint.make(
                self.audit_key,
                previous.seq + 1 if previous else 1,
                at,
                entries,
                previous.mac if previous else GENESIS,
            )
            outcome = self._checkpoint(
                keys=[
                    self.key("audit", "checkpoints"),
                    changed_key,
                    *(self.key("decl", declaration_id) for declaration_id in ids),
                ],
                args=[checkpoint.prev, checkpoint.model_dump_json(), checkpoint.seq,
                      orjson.dumps(read)],
            )  # fmt: skip
            if _text(outcome) == "ok":
                return checkpoint
        raise StoreError("the checkpoint chain kept moving; gave up")

    @translated
    def pending_since(self, older_than: float, limit: int = 500) -> list[str]:
        """Declarations stored before `older_than` (epoch seconds) that have no verdict."""
        raw = self.client.zrangebyscore(self.key("pending"), "-inf", older_than, 0, limit)
        return [_text(item) or "" for item in raw]

    @translated
    def pending_all(self) -> list[str]:
        """Every declaration stored without a verdict (SCAN: each one that stays pending
        throughout is listed at least once)."""
        return [_text(item) or "" for item, _ in self.client.zscan_iter(self.key("pending"))]

    @translated
    def server_run_id(self) -> str:
        """The id of the Redis process answering: a new one after a restart or a failover."""
        return str(self.client.info("server")["run_id"])

    @translated
    def touch_pending(self, declaration_id: str, at: float) -> None:
        """Push a re-enqueued declaration to the back of the sweeper's queue."""
        self.client.zadd(self.key("pending"), {declaration_id: at}, xx=True)

    @translated
    def decisions(self, rule: str, start: float, end: float) -> list[tuple[str, int | None, float]]:
        raw = cast(
            list[tuple[bytes, float]],
            self.client.zrangebyscore(self.key("decisions", rule), start, end, withscores=True),
        )
        out: list[tuple[str, int | None, float]] = []
        for member, score in raw:
            parts = str(_text(member)).rpartition("|")
            declaration_id, line = parts[0], parts[2]
            out.append((declaration_id, int(line) if line else None, float(score)))
        return out

    def listen_changes(self, on_change: Callable[[str], None], stop: threading.Event) -> None:
        """Call `on_change(declaration id)` for every status change, until `stop` is set;
        blocking, for a thread of its own. Raises StoreUnavailable when the subscription
        drops, so that the caller knows to fall back on reading until it subscribes again."""
        try:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self.changes_channel)
                while not stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        on_change(_text(message["data"]) or "")
            finally:
                pubsub.close()
        except redis.RedisError as exc:
            raise StoreUnavailable(
                f"the change subscription dropped: {type(exc).__name__}"
            ) from exc

    @translated
    def claim(self, name: str, seconds: int) -> bool:
        """True for the first caller in `seconds` across every process (a periodic job
        that one API process of several should run)."""
        return bool(self.client.set(self.key("claim", name), now_rfc3339(), nx=True, ex=seconds))

    # --- dashboard sessions -----------------------------------------------------------

    @translated
    def open_session(self, session_id: str, ttl: int) -> None:
        self.client.set(self.key("session", session_id), "1", ex=ttl)

    @translated
    def session_open(self, session_id: str) -> bool:
        return bool(self.client.exists(self.key("session", session_id)))

    @translated
    def close_session(self, session_id: str) -> None:
        self.client.delete(self.key("session", session_id))

    # --- operations: heartbeats, counters, queue depth ---------------------------------

    @translated
    def heartbeat(self, name: str, ttl: int) -> None:
        self.client.set(self.key("workers", name), now_rfc3339(), ex=ttl)

    @translated
    def workers(self) -> set[str]:
        """The workers whose heartbeat is fresh (host:pid)."""
        prefix = self.key("workers", "")
        return {
            (_text(key) or "")[len(prefix) :]
            for key in self.client.scan_iter(match=f"{prefix}*", count=100)
        }

    def workers_alive(self) -> int:
        return len(self.workers())

    @translated
    def count(self, increments: dict[str, int]) -> None:
        """Add to the operational counters that /metrics reports."""
        pipe = self.client.pipeline(transaction=False)
        for name, amount in increments.items():
            pipe.hincrby(self.key("stats"), name, amount)
        pipe.execute()

    @translated
    def stats(self) -> dict[str, int]:
        raw = self.client.hgetall(self.key("stats"))
        return {_text(name) or "": int(value) for name, value in raw.items()}

    @translated
    def queue_depth(self, queue: str) -> int:
        return int(self.client.llen(self.key("celery", queue)))

    # --- rule packs ------------------------------------------------------------------

    @translated
    def keep_pack(self, sha256: str, text: bytes) -> None:
        """Keep a pack version by its content hash, once per process."""
        if sha256 not in self._kept_packs:
            self.client.set(self.key("pack", sha256), text, nx=True)
            self._kept_packs.add(sha256)

    @translated
    def keep_measure_checks(self, records: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        """Keep each measure-check record once, by the SHA-256 of its canonical JSON (the
        digest trails name it by): a record whose inputs changed, e.g. because a
        counterpart measure's pack changed, is another record. A process remembers what
        it kept."""
        texts = {canonical_json(record) for record in records.values()}
        fresh = {
            digest: text
            for text in texts
            if (digest := hashlib.sha256(text.encode()).hexdigest()) not in self._kept_checks
        }
        if not fresh:
            return
        pipe = self.client.pipeline(transaction=False)
        for digest, text in fresh.items():
            pipe.set(self.key("checks", digest), text, nx=True)
        pipe.execute()
        self._kept_checks.update(fresh)

    @translated
    def measure_check_record(self, record_sha256: str) -> dict[str, Any] | None:
        """A measure-check record by the digest a trail names it by."""
        raw = self.client.get(self.key("checks", record_sha256))
        return None if raw is None else dict(json.loads(raw))

    @translated
    def pack_text(self, sha256: str) -> bytes | None:
        value = self.client.get(self.key("pack", sha256))
        return value if isinstance(value, bytes) else None


def _unsummarised(fields: dict[str, str | None]) -> bool:
    """Stored (or decided) before summaries were kept."""
    return fields["line_count"] is None or (
        fields["status"] == "decided" and fields["errors"] is None
    )


def _summary_of(declaration_id: str, fields: dict[str, str | None]) -> DeclarationSummary:
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
    )


def _as_before_use(permit: Permit, declaration_id: str) -> Permit:
    """A permit this declaration already used (an evaluation that is run again after its
    allocation applied) is seen as it was before: issued, holding what it held."""
    if permit.status == "used" and permit.used_by == declaration_id:
        return permit.model_copy(update={"status": "issued", "used": 0, "used_by": None})
    return permit
