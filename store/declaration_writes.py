"""The write path of the declarations over Redis: `submit` stores a new declaration
with its first audit events, `record` appends events and sets fields if the status
allows, `begin` takes a declaration for evaluation; and `RedisDeclarations`, these
writes over the reads of store/declaration_reads.py.

Every write is one Lua script (`store/lua/`, keys by role and one payload, run by
`Keyspace.run`). Audit events are chained here in Python (Redis Lua has no SHA-256):
the chain is computed on the head read beforehand, and the script refuses the append if
the head moved meanwhile. A decision packs the body, the verdict and the trail into one
document (store/layout.py says where each is kept).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from schemas import summary
from schemas.audit import GENESIS, chain_json
from schemas.permit import Permit
from schemas.verification import head_mac
from store.decision_index import decision_row, kept_row
from store.declaration_reads import DeclarationReads
from store.declarations import (
    Declarations,
    OneAtATime,
    Submission,
    SubmitResult,
    Taken,
    Write,
    as_before_use,
    written_events,
    written_fields,
)
from store.errors import NotFound, NotReplicated, StoreError, translated
from store.keyspace import decoded, now_rfc3339
from store.layout import stored_fields, trail_items
from store.ledger import permit_of
from store.packing import events_of, pack, pack_document
from store.webhooks import outbox_index


class RedisDeclarations(OneAtATime, DeclarationReads):
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


# mypy holds the implementation to the Protocol here, whichever methods callers use
_IMPLEMENTS: type[Declarations] = RedisDeclarations
