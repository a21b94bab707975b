"""Webhooks in Redis (SPEC §7.1): subscriptions, the outbox of events to announce, the
deliveries due, and each subscription's log of attempts.

An event is never only in a Celery message. It is written to Redis with the change that
causes it, or read from where that change wrote it:
- a declaration decided or cancelled: the record script (store/lua/record.lua) adds
  `declaration.decided|ID` (or `.cancelled`) to the outbox in the same atomic step as the
  status, if a subscription asks for that event then (`outbox_index`, called by
  store/declaration_writes.py): with no subscription, a decision writes nothing more;
- a quota period crossing its critical threshold or exhausted: the ledger's own event
  list (store/ledger.py) holds it, written by the ledger script that moved the balance;
  the workers read each list from where they stopped (`ledger_tail`);
- a permit issued, refused or expired: the outbox gets the whole event right after the
  ledger answered (`outbox_add`); the event id is the permit's, so the same permit
  announced again (an application retried after a crash) is one event.

The workers turn an outbox entry into one delivery per subscription that wants it, and
remove the entry, in one script (`fan_out`); then take the deliveries that are due, each
for a lease long enough to wait in the pool's queue (`claim`), hold each for a short
lease when its attempt begins (`start`), and record each attempt (`settle`). A worker
that dies holding a delivery leaves it to be taken again when its lease ends.

Keys, under the store's prefix:
    webhooks:subs                 set of subscription ids
    webhooks:sub:{id}             hash: id, url, events (comma-separated), business_number,
                                  secret, created_at, created_ts, status, failing_since
    webhooks:outbox               sorted set of events to announce, by time; an event
                                  is written there only while its wanted set exists
    webhooks:wanted:{type}        set of the subscriptions asking for events of a type
    webhooks:ledger               hash: ledger event list -> entries already read
    webhooks:seen:{event}         an event already fanned out (a week)
    webhooks:seen:test|{sub}      a test event queued (TEST_EVERY seconds)
    webhooks:delivery:{sub}|{ev}  hash: sub, event, type, body, first_at, attempts
    webhooks:due                  sorted set of "{sub}|{event}" by next attempt time
    webhooks:pending              hash: subscription -> deliveries not yet made
    webhooks:attempts:{sub}       list of attempts (JSON), newest first, the last KEEP
    webhooks:pump                 the delivery loop's heartbeat
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import redis
from redis.commands.core import Script

from store.errors import translated
from store.keyspace import decoded, lua_source

KEEP_ATTEMPTS = 200  # attempts listed per subscription
SEEN_FOR = 7 * 24 * 3600  # seconds an event's guard against a second fan-out lives
# the declaration statuses a webhook announces, and the event of each
ANNOUNCED_STATUSES = {"decided": "declaration.decided", "cancelled": "declaration.cancelled"}


def outbox_key(prefix: str) -> str:
    return f"{prefix}:webhooks:outbox"


def wanted_key(prefix: str, kind: str) -> str:
    """The set of the subscriptions asking for events of `kind`: it exists while one does."""
    return f"{prefix}:webhooks:wanted:{kind}"


def outbox_index(prefix: str, declaration_id: str, status: str | None, now: float) -> list[Any]:
    """The outbox entry the record script writes with a declaration's new status (as one
    more [key, member, score, guard] of its index: written only while some subscription
    asks for its kind, checked in the same atomic step), or none when the status is not
    announced."""
    kind = ANNOUNCED_STATUSES.get(status or "")
    if kind is None:
        return []
    return [[outbox_key(prefix), f"{kind}|{declaration_id}", now, wanted_key(prefix, kind)]]


class RedisWebhooks:
    """Subscriptions, outbox and deliveries on one Redis client and key prefix."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, "webhooks", *parts))

    @functools.cached_property
    def _fan_out(self) -> Script:
        return self.client.register_script(lua_source("webhook_fan_out"))

    @functools.cached_property
    def _outbox_add(self) -> Script:
        return self.client.register_script(lua_source("webhook_outbox_add"))

    @functools.cached_property
    def _claim(self) -> Script:
        return self.client.register_script(lua_source("webhook_claim"))

    @functools.cached_property
    def _settle(self) -> Script:
        return self.client.register_script(lua_source("webhook_settle"))

    # --- subscriptions -----------------------------------------------------------------

    @translated
    def create(self, fields: Mapping[str, str]) -> None:
        """Store a subscription, and count it among those that ask for each of its events
        (`wanted_key`), in one transaction."""
        pipe = self.client.pipeline(transaction=True)
        mapping: dict[Any, Any] = dict(fields)
        pipe.hset(self.key("sub", fields["id"]), mapping=mapping)
        pipe.sadd(self.key("subs"), fields["id"])
        for kind in _kinds(fields.get("events")):
            pipe.sadd(wanted_key(self.prefix, kind), fields["id"])
        pipe.execute()

    @translated
    def subscriptions(self) -> list[dict[str, str]]:
        """Every subscription as stored (its secret included), by creation."""
        ids = sorted(decoded(item) or "" for item in self.client.smembers(self.key("subs")))
        pipe = self.client.pipeline(transaction=False)
        for sub_id in ids:
            pipe.hgetall(self.key("sub", sub_id))
        found = [_texts(raw) for raw in pipe.execute() if raw]
        return sorted(found, key=lambda sub: (float(sub.get("created_ts") or 0), sub["id"]))

    @translated
    def subscription(self, sub_id: str) -> dict[str, str] | None:
        raw = self.client.hgetall(self.key("sub", sub_id))
        return _texts(raw) if raw else None

    @translated
    def remove(self, sub_id: str) -> bool:
        """Remove a subscription; its deliveries still due are dropped as they come up."""
        kinds = _kinds(decoded(self.client.hget(self.key("sub", sub_id), "events")))
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.key("sub", sub_id))
        pipe.srem(self.key("subs"), sub_id)
        pipe.delete(self.key("attempts", sub_id))
        for kind in kinds:
            pipe.srem(wanted_key(self.prefix, kind), sub_id)
        return bool(pipe.execute()[0])

    @translated
    def pending(self) -> dict[str, int]:
        """Deliveries not yet made, per subscription."""
        raw = self.client.hgetall(self.key("pending"))
        return {decoded(name) or "": int(value) for name, value in raw.items()}

    @translated
    def due_count(self) -> int:
        return int(self.client.zcard(self.key("due")))

    # --- the outbox --------------------------------------------------------------------

    @translated
    def outbox_add(self, member: str, kind: str, at: float) -> bool:
        """An event to announce (a permit's), written right after the change that caused
        it, if some subscription asks for its kind; whether it was written."""
        keys = [outbox_key(self.prefix), wanted_key(self.prefix, kind)]
        return bool(self._outbox_add(keys=keys, args=[repr(at), member]))

    @translated
    def outbox(self, limit: int) -> list[tuple[str, float]]:
        raw: list[Any] = self.client.zrange(outbox_key(self.prefix), 0, limit - 1, withscores=True)
        return [(decoded(pair[0]) or "", float(pair[1])) for pair in raw]

    @translated
    def outbox_drop(self, members: Sequence[str]) -> None:
        if members:
            names: list[Any] = list(members)
            self.client.zrem(outbox_key(self.prefix), *names)

    @translated
    def fan_out(
        self,
        member: str,
        event_id: str,
        kind: str,
        body: bytes,
        sub_ids: Sequence[str],
        now: float,
        guard: tuple[str, int] | None = None,
    ) -> int:
        """One delivery of the event per subscription in `sub_ids`, the outbox `member`
        removed, in one step; nothing if this event was fanned out before (or, with
        `guard` (name, seconds), if that guard was set less than its seconds ago).
        Returns how many deliveries were made."""
        guard_name, guard_for = guard or (event_id, SEEN_FOR)
        keys = [
            outbox_key(self.prefix),
            self.key("seen", guard_name),
            self.key("due"),
            self.key("pending"),
            *(self.key("delivery", f"{sub_id}|{event_id}") for sub_id in sub_ids),
        ]
        args: list[Any] = [member, guard_for, repr(now), event_id, kind, body, *sub_ids]
        return int(self._fan_out(keys=keys, args=args))

    # --- the ledger's event lists ------------------------------------------------------

    @translated
    def ledger_lengths(self, lists: Sequence[str]) -> list[tuple[int, int]]:
        """For each ledger event list: its length, and how many entries were read."""
        pipe = self.client.pipeline(transaction=False)
        for name in lists:
            pipe.llen(name)
            pipe.hget(self.key("ledger"), name)
        replies = pipe.execute()
        return [
            (int(replies[index]), int(replies[index + 1] or 0))
            for index in range(0, len(replies), 2)
        ]

    @translated
    def ledger_tail(self, name: str, start: int, end: int) -> list[str]:
        return [decoded(item) or "" for item in self.client.lrange(name, start, end - 1)]

    @translated
    def ledger_read(self, name: str, upto: int) -> None:
        self.client.hset(self.key("ledger"), name, upto)

    # --- deliveries --------------------------------------------------------------------

    @translated
    def claim(self, now: float, lease: float, limit: int) -> list[str]:
        """Deliveries due by `now`, each taken for `lease` seconds."""
        taken = self._claim(keys=[self.key("due")], args=[repr(now), repr(lease), limit])
        return [decoded(member) or "" for member in taken]

    @translated
    def start(self, member: str, until: float) -> None:
        """An attempt at a delivery begins: it is held until `until`, counted from now
        rather than from when it was taken (it may have waited in the pool's queue)."""
        self.client.zadd(self.key("due"), {member: until}, xx=True)

    @translated
    def delivery(self, member: str) -> dict[str, str] | None:
        raw = self.client.hgetall(self.key("delivery", member))
        return _texts(raw) if raw else None

    @translated
    def settle(
        self,
        member: str,
        sub_id: str,
        outcome: str,
        next_at: float,
        attempt: Mapping[str, Any],
        now: str,
    ) -> str:
        """Record an attempt and what follows from it (see webhook_settle.lua)."""
        keys = [
            self.key("delivery", member),
            self.key("due"),
            self.key("attempts", sub_id),
            self.key("sub", sub_id),
            self.key("pending"),
            f"{self.prefix}:stats",
        ]
        args: list[Any] = [
            member, outcome, repr(next_at), orjson.dumps(attempt), now, sub_id, KEEP_ATTEMPTS,
        ]  # fmt: skip
        return decoded(self._settle(keys=keys, args=args)) or ""

    @translated
    def drop(self, member: str, sub_id: str) -> None:
        """Forget a delivery whose subscription was removed."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.key("delivery", member))
        pipe.zrem(self.key("due"), member)
        pipe.hdel(self.key("pending"), sub_id)
        pipe.execute()

    @translated
    def attempts(self, sub_id: str, limit: int) -> list[dict[str, Any]]:
        raw = self.client.lrange(self.key("attempts", sub_id), 0, limit - 1)
        return [orjson.loads(item) for item in raw]

    @translated
    def beat(self, name: str, ttl: int) -> None:
        self.client.set(self.key("pump", name), "1", ex=ttl)

    @translated
    def pumps(self) -> int:
        """Delivery loops whose heartbeat is fresh."""
        return sum(1 for _ in self.client.scan_iter(match=self.key("pump", "*"), count=100))


def _kinds(events: str | None) -> list[str]:
    """The event types of a subscription's stored `events` (comma-separated)."""
    return [kind for kind in (events or "").split(",") if kind]


def _texts(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {decoded(name) or "": decoded(value) or "" for name, value in raw.items()}
