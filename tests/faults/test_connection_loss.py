"""A broker connection lost while Redis stays up (a stall, a network blip): what the
worker had taken is decided within seconds, by the worker itself re-enqueueing on its
reconnection, never by the sweeper."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from conftest import make_stack, unique_id
from helpers import declaration
from store import EmbeddedRedis

pytestmark = pytest.mark.fault


def test_killed_broker_connections_are_decided_within_seconds_not_by_the_sweeper(
    tmp_path: Path,
) -> None:
    """Every client connection of the API and the worker is killed (CLIENT KILL) three
    times while batches are in flight; every declaration is decided within 10 s of the
    last kill, with a sweeper that would wait 10 minutes, and once."""
    server = EmbeddedRedis(tmp_path / "redis").start()
    stack = make_stack(server.url, tmp_path, ACCORD_SWEEP_AFTER="600")
    admin = redis.Redis.from_url(server.url)
    try:
        stack.start_worker(concurrency=2)
        stack.start_api()
        ids: list[str] = []

        def submit(round_number: int) -> None:
            bodies = [declaration(unique_id(f"cut{round_number}")) for _ in range(100)]
            with stack.client() as client:
                response = client.post("/v1/declarations/batch", json={"declarations": bodies})
                assert response.status_code == 202, response.text
            ids.extend(body["declaration_id"] for body in bodies)

        with ThreadPoolExecutor(2) as pool:
            for round_number in range(3):
                list(pool.map(submit, (2 * round_number, 2 * round_number + 1)))
                time.sleep(0.3)  # chunks taken, some running
                admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        last_kill = time.monotonic()
        store = stack.store()
        while time.monotonic() - last_kill < 10:
            statuses = store.statuses(ids)
            if all(status == "decided" for status in statuses):
                break
            time.sleep(0.2)
        assert store.statuses(ids) == ["decided"] * len(ids)
        assert store.stats().get("requeued:sweeper", 0) == 0
        for declaration_id in ids[:: len(ids) // 20]:
            events = [event.type for event in store.audit(declaration_id)]
            assert events.count("verdict") == 1
    finally:
        stack.stop()
        admin.close()
        server.stop()
