"""The read path of the declarations over Redis: one record or many (each read whole in
one transaction, and joined by store/layout.py), the lists' summaries, the decided and
pending queues, an archived record read back from its file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas import summary
from schemas.quota import Allocation
from store.declarations import (
    SUMMARY_READ,
    DeclarationRecord,
    DeclarationSummary,
    record_of,
    summary_of,
)
from store.errors import Unreadable, translated
from store.keyspace import Keyspace, decoded
from store.layout import stored_fields
from store.ledger import allocation_of
from store.packing import Damaged


def _record_of(declaration_id: str, raw: Any) -> DeclarationRecord | None:
    if not raw:
        return None
    return record_of(declaration_id, raw)


def _unsummarised(fields: dict[str, str | None]) -> bool:
    """Stored (or decided) before summaries were kept."""
    return (
        fields["line_count"] is None
        or fields["currency"] is None
        or (fields["status"] == "decided" and fields["errors"] is None)
    )


class DeclarationReads(Keyspace):
    """The declarations in Redis, as read."""

    def _read(self, pipe: Any, declaration_id: str) -> None:
        """A declaration's hash, packed body, packed verdict and document, read in `pipe`
        (four replies, for `stored_fields`)."""
        pipe.hgetall(self.key("decl", declaration_id))
        pipe.get(self.key("body", declaration_id))
        pipe.get(self.key("verdict", declaration_id))
        pipe.get(self.key("doc", declaration_id))

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
            _record_of(
                declaration_id, self._unarchived(declaration_id, *replies[4 * n : 4 * n + 4])
            )
            for n, declaration_id in enumerate(declaration_ids)
        ]
        return [record for record in records if record is not None]

    def _unarchived(
        self,
        declaration_id: str,
        raw: Any,
        body: bytes | None,
        verdict: bytes | None,
        document: bytes | None,
    ) -> dict[str, str | None]:
        """A record as stored, or, for an archived stub, the archived record under what the
        stub holds: status, head, count, MAC and checkpoint come from Redis, never the file.
        Unreadable when a stored value of it does not read back."""
        if not raw:
            return {}
        try:
            fields = stored_fields(raw, body, verdict, document)
        except Damaged as exc:
            raise Unreadable(
                declaration_id, f"{exc.part}:{declaration_id}", exc.seq, exc.reason,
                business_number=decoded(raw.get(b"bn")) or "",
            ) from None  # fmt: skip
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
