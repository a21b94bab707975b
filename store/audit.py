"""Audit trails in Redis, as auditors read them: each declaration's chain of events, the
checkpoint chain that authenticates the trails' heads, and the index of decisions by rule.

The trails themselves are written with the declaration they belong to, in the same Lua
script (store/declaration_writes.py); this aggregate reads them, and writes checkpoints.

Keys, under the store's prefix:
    audit:{id}           list of a declaration's audit events (JSON), each write's
                         events packed as one item (store/packing.py), after those of
                         doc:{id}, the document a decision packs (store/layout.py)
    audit:changed        sorted set of declarations whose trail changed since the last
                         checkpoint, by audit:changes (a counter)
    audit:checkpoints    list of checkpoints (JSON, schemas/verification.py), oldest first
    audit:tip            the newest checkpoint's keyed tip, set with it: a list cut short
                         ends before it
    audit:named          hash: declaration id -> the newest checkpoint naming its head,
                         beside the record's own pointer, so that one rolled back or
                         removed disagrees with it
    decisions:{rule}:{n} the rule's decisions in buckets of at most 512 (so that Redis
                         keeps each a listpack): a hash "declaration|line" -> JSON
                         [decision time (ms), severity, pack_version, outcome] as decided
                         (written by store/lua/record.lua); decisions:{rule}:count the
                         bucket being filled, decisions:{rule}:first and :last each
                         bucket's earliest and latest time (sorted sets of bucket numbers)
    decisions:{rule}, decision_rows:{rule}  the same, unbucketed (rows as JSON objects),
                         as decisions indexed before the buckets are kept; still read

An archived declaration's events are in its archive line (store/archive.py); its head,
count, MAC and checkpoint stay in Redis, so the file cannot change what verifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, cast

import orjson

from schemas.audit import GENESIS, AuditEvent
from schemas.verification import Checkpoint, CheckpointTip
from store.decision_index import row_of
from store.errors import StoreError, Unreadable, translated
from store.keyspace import Keyspace, decoded
from store.layout import trail_of
from store.packing import Damaged


@dataclass(frozen=True)
class DecisionRow:
    """One decision of a rule as the index holds it: where, when, and what was kept of it
    as it was decided ({severity, pack_version, outcome}; None for a decision indexed
    before that was kept)."""

    declaration_id: str
    line: int | None
    at: float
    kept: dict[str, Any] | None


class AuditTrails(Protocol):
    """What callers use of the audit trails: verification, checkpoints, decisions."""

    def audit(self, declaration_id: str) -> list[AuditEvent]: ...

    def audit_raw(self, declaration_id: str) -> list[str | bytes]:
        """The stored events as written, for verification that must survive bad ones."""
        ...

    def checkpoint_raw(self, seq: int) -> bytes | None:
        """Checkpoint `seq` as stored (1-based), for verification."""
        ...

    def write_checkpoint(self, at: str, limit: int = 5000) -> Checkpoint | None:
        """Checkpoint the heads of the trails changed since the last checkpoint."""
        ...

    def checkpoint_named(self, declaration_id: str) -> int | None:
        """The newest checkpoint naming the declaration's head, as the index says."""
        ...

    def checkpoint_list_end(self) -> tuple[bytes | None, bytes | None, int]:
        """(keyed tip, last checkpoint, count) of the checkpoint list, read together."""
        ...

    def decisions(
        self, rule: str, start: float, end: float, offset: int = 0, limit: int | None = None
    ) -> list[DecisionRow]:
        """The decisions of `rule` in [start, end], oldest first, from position `offset`,
        at most `limit` of them, each with what was kept of it as it was decided."""
        ...


class RedisAuditTrails(Keyspace):
    """The audit trails in Redis."""

    @property
    def checkpoints_key(self) -> str:
        """The list of checkpoints, oldest first."""
        return self.key("audit", "checkpoints")

    @translated
    def audit(self, declaration_id: str) -> list[AuditEvent]:
        return [AuditEvent.model_validate_json(item) for item in self.audit_raw(declaration_id)]

    @translated
    def audit_raw(self, declaration_id: str) -> list[str | bytes]:
        """The stored events as written, for verification that must survive bad ones (from
        the archive line for an archived declaration)."""
        # one transaction: a decision moves the trail from the list into the document
        pipe = self.client.pipeline(transaction=True)
        pipe.get(self.key("doc", declaration_id))
        pipe.lrange(self.key("audit", declaration_id), 0, -1)
        try:
            events: list[str | bytes] = list(trail_of(*pipe.execute()))
        except Damaged as exc:
            key = f"{exc.part}:{declaration_id}"
            raise Unreadable(declaration_id, key, exc.seq, exc.reason) from None
        if events:
            return events
        stub = self._archived_stub(declaration_id)
        if stub is None:
            return events
        line = self._archived_line(declaration_id, stub)
        return [str(event) for event in line.get("audit") or []]

    @translated
    def checkpoint_named(self, declaration_id: str) -> int | None:
        value = self.client.hget(self.key("audit", "named"), declaration_id)
        return int(value) if value is not None else None

    @translated
    def checkpoint_list_end(self) -> tuple[bytes | None, bytes | None, int]:
        pipe = self.client.pipeline(transaction=True)  # the script writes them together
        pipe.get(self.key("audit", "tip"))
        pipe.lindex(self.checkpoints_key, -1)
        pipe.llen(self.checkpoints_key)
        tip, last, length = pipe.execute()
        return tip, last, int(length)

    @translated
    def checkpoint_raw(self, seq: int) -> bytes | None:
        """Checkpoint `seq` as stored (1-based), for verification."""
        value = self.client.lindex(self.checkpoints_key, seq - 1)
        return value if isinstance(value, bytes) else None

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
        ids = [decoded(member) or "" for member, _ in changed]
        pipe = self.client.pipeline(transaction=False)
        for declaration_id in ids:
            pipe.hmget(self.key("decl", declaration_id), "audit_head", "audit_len")
        heads = [(decoded(head), count) for head, count in pipe.execute()]
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
            last = self.client.lindex(self.checkpoints_key, -1)
            previous = Checkpoint.model_validate_json(last) if last else None
            checkpoint = Checkpoint.make(
                self.audit_key,
                previous.seq + 1 if previous else 1,
                at,
                entries,
                previous.mac if previous else GENESIS,
            )
            outcome = self.run(
                "checkpoint",
                {
                    "checkpoints": self.checkpoints_key,
                    "changed": changed_key,
                    "tip": self.key("audit", "tip"),
                    "named": self.key("audit", "named"),
                    **{f"decl|{item}": self.key("decl", item) for item in ids},
                },
                {"prev": checkpoint.prev, "seq": str(checkpoint.seq), "read": read},
                [checkpoint.model_dump_json(),
                 CheckpointTip.of(self.audit_key, checkpoint).model_dump_json()],
            )  # fmt: skip
            if decoded(outcome) == "ok":
                return checkpoint
        raise StoreError("the checkpoint chain kept moving; gave up")

    @translated
    def decisions(
        self, rule: str, start: float, end: float, offset: int = 0, limit: int | None = None
    ) -> list[DecisionRow]:
        """In the order of one sorted set (time, then member), from the buckets whose time
        span meets [start, end] and from the unbucketed index of before. Buckets wholly in
        the range, before the page and apart from the others, are counted, not read; the
        reading stops at the buckets past the page's end."""
        index, low, high = self.key("decisions", rule), start * 1000, end * 1000
        pipe = self.client.pipeline(transaction=False)
        pipe.zrangebyscore(index, start, end, withscores=True)
        pipe.zrangebyscore(f"{index}:first", "-inf", high, withscores=True)
        pipe.zrangebyscore(f"{index}:last", low, "+inf", withscores=True)
        old, firsts, lasts = pipe.execute()
        ending = {decoded(number) or "": score for number, score in lasts}
        spans = sorted(
            (score, ending[number], number)
            for number, score in ((decoded(item) or "", score) for item, score in firsts)
            if number in ending
        )
        inside = [low <= first and last <= high for first, last, _ in spans]
        pipe = self.client.pipeline(transaction=False)
        for _, _, number in spans:
            pipe.hlen(f"{index}:{number}")
        # entries in the range: all of a bucket wholly in it, at least none of another
        counts = [
            int(count) if whole else 0
            for count, whole in zip(pipe.execute() if spans else [], inside, strict=True)
        ]
        skip = 0
        while (
            not old
            and len(spans) > 1
            and inside[0]
            and spans[0][1] < spans[1][0]
            and skip + counts[0] <= offset
        ):
            skip += counts.pop(0)
            spans.pop(0)
            inside.pop(0)
        if limit is not None:  # the buckets up to the page's end, and those that overlap them
            need, held, reach, taken = offset - skip + limit, 0, float("-inf"), 0
            for (first, last, _), count in zip(spans, counts, strict=True):
                if held >= need and first > reach:
                    break
                held, reach, taken = held + count, max(reach, last), taken + 1
            spans = spans[:taken]
        pipe = self.client.pipeline(transaction=False)
        for _, _, number in spans:
            pipe.hgetall(f"{index}:{number}")
        found: list[tuple[float, bytes, dict[str, Any] | None]] = []
        for member, score in old:
            found.append((score, member, None))
        for entries in pipe.execute() if spans else []:
            for member, kept in entries.items():
                at_ms, *values = orjson.loads(kept)
                if low <= at_ms <= high:
                    found.append((at_ms / 1000, member, row_of(values)))
        found.sort(key=lambda item: (item[0], item[1]))
        page = found[offset - skip :] if limit is None else found[offset - skip :][:limit]
        unbucketed = [member for _, member, kept in page if kept is None]
        rows = (
            dict(
                zip(
                    unbucketed,
                    self.client.hmget(self.key("decision_rows", rule), unbucketed),
                    strict=True,
                )
            )
            if unbucketed
            else {}
        )
        out: list[DecisionRow] = []
        for score, member, kept in page:
            parts = str(decoded(member)).rpartition("|")
            declaration_id, line = parts[0], parts[2]
            row = rows.get(member)
            if kept is None and row:
                kept = row_of(orjson.loads(row))
            out.append(DecisionRow(declaration_id, int(line) if line else None, float(score), kept))
        return out


# mypy holds the implementation to the Protocol here, whichever methods callers use
_IMPLEMENTS: type[AuditTrails] = RedisAuditTrails
