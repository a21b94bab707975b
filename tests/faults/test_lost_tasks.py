"""A task the broker loses while Redis stays up: a declaration stored, its message gone
from the queue (popped by a BRPOP whose reply was never read) or left in kombu's
`unacked` hash by a worker that never ran it. The API's watch for lost tasks enqueues it
again within seconds (ACCORD_LOST_AFTER), not after the sweeper's ACCORD_SWEEP_AFTER;
and a backlog that is merely waiting is not enqueued twice."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from conftest import Stack, make_stack, unique_id
from helpers import declaration
from store import RedisStore
from workers.app import QUEUES

pytestmark = pytest.mark.fault

WITHIN = 15.0  # seconds from the loss to the verdict, with ACCORD_LOST_AFTER at its 10 s


@contextlib.contextmanager
def stack_with_idle_worker(redis_url: str, directory: Path) -> Iterator[Stack]:
    """A stack whose sweeper would wait ten minutes, with Redis as its broker, the worker
    started and then stopped (SIGSTOP of its main process, after its last BRPOP timed
    out): what is submitted stays in the queue, for the test to take away."""
    stack = make_stack(
        redis_url,
        directory,
        ACCORD_SWEEP_AFTER="600",
        ACCORD_VISIBILITY_TIMEOUT="600",
        ACCORD_BROKER_URL="",  # the watch reads the broker's keys: Redis is the broker
    )
    try:
        worker = stack.start_worker(concurrency=1)
        stack.start_api()
        os.kill(worker.pid, signal.SIGSTOP)
        time.sleep(1.5)  # kombu's BRPOP (1 s) has returned: nothing more is taken
        yield stack
    finally:
        if stack.worker is not None:
            os.kill(stack.worker.pid, signal.SIGCONT)
        stack.stop()


def submit(stack: Stack, count: int, label: str) -> list[str]:
    ids = [unique_id(label) for _ in range(count)]
    with stack.client() as client:
        for declaration_id in ids:
            response = client.post("/v1/declarations", json=declaration(declaration_id))
            assert response.status_code == 202, response.text
    return ids


def queue_key(stack: Stack) -> str:
    return f"{stack.prefix}:celery:accord.evaluate"


def wait_for_messages(admin: redis.Redis, key: str, count: int) -> list[bytes]:
    deadline = time.monotonic() + 5
    while admin.llen(key) < count:
        assert time.monotonic() < deadline, "the API's enqueue did not reach the queue"
        time.sleep(0.05)
    return list(admin.lrange(key, 0, -1))


def wait_decided(store: RedisStore, ids: list[str], seconds: float) -> list[str | None]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        statuses = store.statuses(ids)
        if all(status == "decided" for status in statuses):
            return statuses
        time.sleep(0.2)
    return store.statuses(ids)


def test_a_task_taken_off_the_queue_and_dropped_is_enqueued_again_within_seconds(
    redis_url: str, tmp_path: Path
) -> None:
    admin = redis.Redis.from_url(redis_url)
    with stack_with_idle_worker(redis_url, tmp_path) as stack:
        store = stack.store()
        ids = submit(stack, 1, "dropped")
        wait_for_messages(admin, queue_key(stack), 1)
        admin.delete(queue_key(stack))  # popped, and its reply never read
        lost_at = time.monotonic()
        assert stack.worker is not None
        os.kill(stack.worker.pid, signal.SIGCONT)

        assert wait_decided(store, ids, WITHIN) == ["decided"]
        assert time.monotonic() - lost_at < WITHIN
        stats = store.stats()
        assert stats.get("requeued:lost", 0) == 1
        assert stats.get("requeued:sweeper", 0) == 0
        assert [event.type for event in store.audit(ids[0])].count("verdict") == 1
    admin.close()


def test_a_task_left_unacknowledged_by_a_worker_that_never_ran_it_is_enqueued_again(
    redis_url: str, tmp_path: Path
) -> None:
    """The message moved to kombu's `unacked` hash and index as its QoS records a
    message taken, by a worker that then never ran it (nor acknowledged it): kombu
    itself would return it only after the visibility timeout (here ten minutes)."""
    admin = redis.Redis.from_url(redis_url)
    with stack_with_idle_worker(redis_url, tmp_path) as stack:
        store = stack.store()
        ids = submit(stack, 1, "stranded")
        [message] = wait_for_messages(admin, queue_key(stack), 1)
        tag = str(uuid.uuid4())
        unacked = f"{stack.prefix}:celery:unacked"
        pipe = admin.pipeline()
        pipe.delete(queue_key(stack))
        pipe.zadd(f"{unacked}_index", {tag: time.time()})
        pipe.hset(
            unacked,
            tag,
            orjson.dumps([orjson.loads(message), "accord.evaluate", "accord.evaluate"]),
        )
        pipe.execute()
        lost_at = time.monotonic()
        assert stack.worker is not None
        os.kill(stack.worker.pid, signal.SIGCONT)

        assert wait_decided(store, ids, WITHIN) == ["decided"]
        assert time.monotonic() - lost_at < WITHIN
        assert store.stats().get("requeued:lost", 0) == 1
        assert store.stats().get("requeued:sweeper", 0) == 0
    admin.close()


def test_a_backlog_waiting_in_the_queue_is_not_enqueued_again(
    redis_url: str, tmp_path: Path
) -> None:
    """Declarations waiting in the queue for longer than ACCORD_LOST_AFTER (here the
    worker is stopped) are held by the broker: the watch leaves them, and once the
    worker runs again each is decided once, by its first task."""
    admin = redis.Redis.from_url(redis_url)
    with stack_with_idle_worker(redis_url, tmp_path) as stack:
        store = stack.store()
        ids = submit(stack, 30, "backlog")
        deadline = time.monotonic() + 5
        while not set(ids) <= held(store):
            assert time.monotonic() < deadline, "the API's enqueue did not reach the queue"
            time.sleep(0.05)
        waiting = admin.lrange(queue_key(stack), 0, -1)
        time.sleep(15)  # past ACCORD_LOST_AFTER (10 s) and a few of the watch's looks
        assert admin.lrange(queue_key(stack), 0, -1) == waiting
        assert admin.llen(f"{stack.prefix}:celery:accord.bulk") == 0  # where it re-enqueues
        assert store.stats().get("requeued:lost", 0) == 0
        assert stack.worker is not None
        os.kill(stack.worker.pid, signal.SIGCONT)

        assert wait_decided(store, ids, WITHIN) == ["decided"] * len(ids)
        assert store.stats().get("requeued:lost", 0) == 0
    admin.close()


def held(store: RedisStore) -> set[str]:
    holds = store.broker_holds(QUEUES, 1000, taken_since=0)
    assert holds is not None
    return holds.waiting
