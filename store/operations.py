"""What running Accord needs of Redis beyond the record: whether it answers (and which
process answers), worker heartbeats, operational counters and queue depth for /metrics,
one-of-many claims for periodic jobs, dashboard sessions, and the subscription to status
changes that wakes the API's long polls.

Keys, under the store's prefix:
    workers:{host:pid}   a worker's heartbeat, expiring
    stats                hash of operational counters (also added to by the record script)
    writable             written by readiness checks: Redis takes writes
    claim:{name}         held by the process that runs a periodic job this time round
    session:{id}         a dashboard session, until sign-out or its maximum age
    celery:{queue}       the broker's queue, when Redis is the broker
    celery:unacked       the broker's messages taken by a worker and not yet acknowledged
                         (kombu's ack emulation: a hash by delivery tag), and
    celery:unacked_index when each was taken
Channel `{prefix}:changes`: the id of every declaration whose status a record changed.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import redis

from store.errors import StoreUnavailable, translated
from store.keyspace import Keyspace, decoded, now_rfc3339


class Operations(Protocol):
    """What the service's and the workers' own upkeep use."""

    def ping(self) -> bool: ...

    def check_writable(self) -> None:
        """Raise StoreError unless Redis takes a write (a replica, a full disk, no auth)."""
        ...

    def server_run_id(self) -> str:
        """The id of the Redis process answering: a new one after a restart or a failover."""
        ...

    def listen_changes(self, on_change: Callable[[str], None], stop: threading.Event) -> None:
        """Call `on_change(declaration id)` for every status change, until `stop` is set."""
        ...

    def claim(self, name: str, seconds: int) -> bool:
        """True for the first caller in `seconds` across every process."""
        ...

    def open_session(self, session_id: str, ttl: int) -> None: ...

    def session_open(self, session_id: str) -> bool: ...

    def close_session(self, session_id: str) -> None: ...

    def heartbeat(self, name: str, ttl: int) -> None: ...

    def workers(self) -> set[str]:
        """The workers whose heartbeat is fresh (host:pid)."""
        ...

    def workers_alive(self) -> int: ...

    def count(self, increments: dict[str, int]) -> None:
        """Add to the operational counters that /metrics reports."""
        ...

    def stats(self) -> dict[str, int]: ...

    def oldest_undecided(self) -> float | None:
        """When the oldest declaration without a verdict was submitted (epoch seconds)."""
        ...

    def queue_depth(self, queue: str) -> int: ...

    def decision_seconds(self, declaration_ids: Sequence[str]) -> list[float]:
        """Submission to verdict, in seconds, of each of these declarations that has one."""
        ...

    def broker_holds(
        self, queues: Sequence[str], limit: int, taken_since: float
    ) -> BrokerHolds | None:
        """The declaration ids named by the task messages in the broker: waiting in one
        of `queues` or taken by a worker at `taken_since` (epoch seconds) or later, and
        apart, each message taken earlier and not yet acknowledged. None when the queues
        hold more than `limit` messages (reading them all would cost more than it tells)."""
        ...


OLDEST_SCAN = 10_000  # pending declarations looked at; a healthy service has a handful
OLDEST_UNDECIDED = """
local oldest = false
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do
  local at = redis.call('ZSCORE', KEYS[2], id)
  if at and (not oldest or tonumber(at) < tonumber(oldest)) then oldest = at end
end
return oldest
"""


class RedisOperations(Keyspace):
    """Operations on Redis."""

    @translated
    def ping(self) -> bool:
        return bool(self.client.ping())

    @translated
    def check_writable(self) -> None:
        """Raise StoreError unless Redis takes a write (a replica, a full disk, no auth)."""
        self.client.set(self.key("writable"), now_rfc3339(), ex=60)

    @translated
    def server_run_id(self) -> str:
        """The id of the Redis process answering: a new one after a restart or a failover."""
        return str(self.client.info("server")["run_id"])

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
                        on_change(decoded(message["data"]) or "")
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

    # --- heartbeats, counters, queue depth ---------------------------------------------

    @translated
    def heartbeat(self, name: str, ttl: int) -> None:
        self.client.set(self.key("workers", name), now_rfc3339(), ex=ttl)

    @translated
    def workers(self) -> set[str]:
        """The workers whose heartbeat is fresh (host:pid)."""
        prefix = self.key("workers", "")
        return {
            (decoded(key) or "")[len(prefix) :]
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
        return {decoded(name) or "": int(value) for name, value in raw.items()}

    @translated
    def oldest_undecided(self) -> float | None:
        """When the oldest declaration without a verdict was submitted (epoch seconds),
        among the first OLDEST_SCAN of the pending set. The pending set's order is not
        quite submission order (the sweeper moves what it re-enqueues to the back), so
        the submission times are read from `submitted`, in Redis, in one call."""
        found = self.client.eval(
            OLDEST_UNDECIDED, 2, self.key("pending"), self.key("submitted"), OLDEST_SCAN
        )
        return float(found) if found else None

    @translated
    def queue_depth(self, queue: str) -> int:
        return int(self.client.llen(self.key("celery", queue)))

    @translated
    def broker_holds(
        self, queues: Sequence[str], limit: int, taken_since: float
    ) -> BrokerHolds | None:
        """The declaration ids named by the task messages in the broker: waiting in one
        of `queues` or taken by a worker at `taken_since` (epoch seconds) or later, and
        apart, each message taken earlier and not yet acknowledged (kombu keeps what a
        worker took in its `unacked` hash, and when it took it in `unacked_index`, until
        the task's acknowledgement). None when the queues hold more than `limit` messages
        (reading them all would cost more than it tells)."""
        keys = [self.key("celery", queue) for queue in queues]
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.llen(key)
        if sum(pipe.execute()) > limit:
            return None
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.lrange(key, 0, limit)
        pipe.zrange(self.key("celery", "unacked_index"), taken_since, "+inf", byscore=True)
        pipe.hgetall(self.key("celery", "unacked"))
        *waiting, recent, taken = pipe.execute()
        held: set[str] = set()
        for raw in [message for messages in waiting for message in messages]:
            held.update(task_arguments(_json(raw)))
        earlier: list[set[str]] = []
        for tag, raw in taken.items():  # [message, exchange, routing key]
            entry = _json(raw)
            named = task_arguments(entry[0] if isinstance(entry, list) and entry else None)
            if tag in recent:
                held.update(named)
            elif named:
                earlier.append(named)
        return BrokerHolds(held, earlier)

    @translated
    def decision_seconds(self, declaration_ids: Sequence[str]) -> list[float]:
        """Submission to verdict, in seconds, of each of these declarations that has one."""
        seconds: list[float] = []
        for start in range(0, len(declaration_ids), 1000):
            chunk = list(declaration_ids[start : start + 1000])
            pipe = self.client.pipeline(transaction=False)
            pipe.zmscore(self.key("submitted"), chunk)
            pipe.zmscore(self.key("decided"), chunk)
            submitted, decided = pipe.execute()
            seconds.extend(
                end - begin
                for begin, end in zip(submitted, decided, strict=True)
                if begin is not None and end is not None
            )
        return seconds


@dataclass(frozen=True)
class BrokerHolds:
    """What the broker's messages name: `waiting` (in a queue, or taken lately), and
    the ids of each message a worker took earlier and has not acknowledged."""

    waiting: set[str]
    taken_earlier: list[set[str]]


def _json(raw: bytes) -> Any:
    """A broker entry as JSON, or None for one that is not (another client's message):
    it names no declaration."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def task_arguments(message: Any) -> set[str]:
    """The strings among a Celery task message's positional arguments (the declaration
    ids of `accord.evaluate` and `accord.evaluate_many`); none from a message that is
    not a task's (the body is JSON, base64-encoded by kombu: `[args, kwargs, embed]`)."""
    try:
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        arguments = orjson.loads(body)[0]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return set()
    found: set[str] = set()
    pending = [arguments]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, list):
            pending.extend(item)
    return found


# mypy holds the implementation to the Protocol here, whichever methods callers use
_IMPLEMENTS: type[Operations] = RedisOperations
