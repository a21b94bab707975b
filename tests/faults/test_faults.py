"""Nothing lost, nothing twice: the pipeline under worker crashes, a Redis crash and
duplicate submissions, with real processes killed with SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery

from conftest import Stack, make_stack, unique_id
from helpers import declaration
from rules.catalog import load_catalog
from rules.quota import terms_on
from store import EmbeddedRedis, RedisStore
from workers.app import QUEUE

pytestmark = pytest.mark.fault

QUOTA = "CA-CN-EV-TRQ-2026"


def pool_children(worker: subprocess.Popen[bytes]) -> list[int]:
    """The Celery pool processes of a worker (its direct children)."""
    path = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def wait_until_decided(store: RedisStore, ids: list[str], timeout: float) -> list[str | None]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = store.statuses(ids)
        if (
            all(status in ("decided", "failed") for status in statuses)
            or time.monotonic() > deadline
        ):
            return statuses
        time.sleep(0.2)


def quota_declarations(stack: Stack, count: int, label: str) -> list[dict[str, Any]]:
    """`count` one-vehicle declarations accepted now, each with its own permit issued
    today (so that no permit expires while the test runs)."""
    bodies = []
    accepted_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    with stack.client() as client:
        for index in range(count):
            number = f"{label}-P{index}"
            response = client.post(
                "/v1/permits",
                json={"permit_number": number, "business_number": "123456789RM0001",
                      "measure": QUOTA, "quantity": 1, "issued_on": accepted_at[:10]},
            )  # fmt: skip
            assert response.status_code == 201
            bodies.append(
                declaration(
                    f"{label}-{index}",
                    accepted_at=accepted_at,
                    lines=[
                        {"quantity": "1", "value_for_duty": "40000.00", "permit_number": number}
                    ],
                )
            )
    return bodies


def assert_exactly_once(store: RedisStore, bodies: list[dict[str, Any]]) -> None:
    """Every declaration decided once, each using its own permit once; the quota drawn is
    the units of the permits issued, neither more nor less."""
    ids = [body["declaration_id"] for body in bodies]
    statuses = wait_until_decided(store, ids, timeout=180)
    assert statuses == ["decided"] * len(ids)
    accepted = 0
    for declaration_id in ids:
        events = store.audit(declaration_id)
        assert [event.type for event in events].count("verdict") == 1, declaration_id
        assert [event.type for event in events].count("quota_allocation") <= 1
        record = store.get(declaration_id)
        assert record is not None and record.verdict is not None
        accepted += '"outcome":"accepted"' in record.verdict
    assert accepted == len(ids)
    for body in bodies:
        permit = store.ledger.permit(QUOTA, body["lines"][0]["permit_number"])
        assert permit is not None
        assert (permit.status, permit.used, permit.used_by) == ("used", 1, body["declaration_id"])
    catalog = load_catalog()
    found = catalog.measure(QUOTA)
    assert found is not None
    day = date.fromisoformat(bodies[0]["accepted_at"][:10])
    period = store.ledger.view(terms_on(found[1], day), day).current
    assert period is not None
    assert period.permits is not None
    assert period.used == period.permits.issued
    assert period.permits.used >= len(ids)


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[tuple[Stack, EmbeddedRedis]]:
    """A stack on its own Redis (so that Redis can be killed), with a short visibility
    timeout and sweep delay, so that recovery is quick enough to test."""
    redis = EmbeddedRedis(tmp_path / "redis").start()
    stack = make_stack(redis.url, tmp_path, ACCORD_VISIBILITY_TIMEOUT="10", ACCORD_SWEEP_AFTER="4")
    try:
        yield stack, redis
    finally:
        stack.stop()
        redis.stop()


def test_killing_worker_processes_loses_nothing_and_doubles_nothing(
    own_stack: tuple[Stack, EmbeddedRedis],
) -> None:
    """SIGKILL to pool processes while 300 declarations are in flight: each is decided once."""
    stack, _ = own_stack
    stack.start_api()
    bodies = quota_declarations(stack, 300, unique_id("kw"))
    with stack.client() as client:
        response = client.post("/v1/declarations/batch", json={"declarations": bodies})
    assert {item["status_code"] for item in response.json()["results"]} == {202}
    worker = stack.start_worker(concurrency=2)
    store = stack.store()
    killed = 0
    rng = random.Random(7)
    deadline = time.monotonic() + 60
    while killed < 6 and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.05, 0.3))
        children = pool_children(worker)
        if children:
            os.kill(rng.choice(children), signal.SIGKILL)
            killed += 1
    assert killed == 6
    assert_exactly_once(store, bodies)


def test_killing_the_whole_worker_loses_nothing(own_stack: tuple[Stack, EmbeddedRedis]) -> None:
    """SIGKILL to the worker and its pool mid-run; a new worker finishes every declaration once."""
    stack, _ = own_stack
    stack.start_api()
    bodies = quota_declarations(stack, 200, unique_id("kn"))
    with stack.client() as client:
        client.post("/v1/declarations/batch", json={"declarations": bodies})
    worker = stack.start_worker(concurrency=2)
    store = stack.store()
    ids = [body["declaration_id"] for body in bodies]
    deadline = time.monotonic() + 60
    while sum(status == "decided" for status in store.statuses(ids)) < 20:
        assert time.monotonic() < deadline, "the worker decided nothing within 60 s"
        time.sleep(0.01)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    stack.worker = None
    assert store.statuses(ids).count("decided") < len(ids)  # the kill interrupted real work
    stack.start_worker(concurrency=2)
    assert_exactly_once(store, bodies)


def test_redis_crash_and_restart_loses_no_accepted_declaration(
    own_stack: tuple[Stack, EmbeddedRedis], tmp_path: Path
) -> None:
    """Every declaration that got 202 before Redis was SIGKILLed is decided after it restarts."""
    stack, redis = own_stack
    stack.start_api()
    bodies = quota_declarations(stack, 100, unique_id("kr"))
    with stack.client() as client:
        for body in bodies:
            assert client.post("/v1/declarations", json=body).status_code == 202
    redis.kill()
    with stack.client(timeout=10) as client:
        started = time.monotonic()
        during = client.post("/v1/declarations", json=declaration(unique_id()))
        assert during.status_code == 503
        assert time.monotonic() - started < 8
        assert httpx.get(f"{stack.url}/healthz").status_code == 503
    redis.start()  # the same port and the same append-only file
    stack.start_worker(concurrency=2)
    assert_exactly_once(stack.store(), bodies)


def test_twenty_concurrent_duplicates_are_evaluated_once(stack: Stack) -> None:
    """Twenty simultaneous submissions of one declaration: one 202, nineteen 200, one verdict."""
    body = declaration(unique_id())

    def post(_: int) -> int:
        with stack.client() as client:
            return client.post("/v1/declarations", json=body).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = sorted(pool.map(post, range(20)))
    assert codes == [200] * 19 + [202]
    store = stack.store()
    assert wait_until_decided(store, [body["declaration_id"]], 30) == ["decided"]
    types = [event.type for event in store.audit(body["declaration_id"])]
    assert types.count("received") == 1
    assert types.count("verdict") == 1


def test_a_declaration_that_cannot_be_evaluated_ends_failed_with_the_error(stack: Stack) -> None:
    """A body the engine cannot read ends `failed` with the error in words, not retried forever."""
    store = stack.store()
    declaration_id = unique_id("broken")
    store.submit(
        declaration_id, '{"declaration_id": "broken"}', "0" * 64, "123456789RM0001", time.time(), []
    )
    sender = Celery("test-sender", broker=stack.redis_url)
    sender.conf.update(
        task_serializer="json",
        broker_transport_options={"global_keyprefix": f"{stack.prefix}:celery:"},
    )
    sender.send_task("accord.evaluate", args=[declaration_id], queue=QUEUE)
    assert wait_until_decided(store, [declaration_id], 30) == ["failed"]
    record = store.get(declaration_id)
    assert record is not None and record.error is not None
    assert "validation error" in record.error
    assert [event.type for event in store.audit(declaration_id)] == ["failed"]
