"""Lists read summaries, not records: the latest submissions cost the same whatever the
size of the declarations in them. Checked on the real Redis by watching the commands it
receives (MONITOR), since what matters is what the server is asked to send."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from helpers import IMPORTER
from schemas import summary
from store import SUMMARY_READ, RedisStore

LINES = 999


def large_body(declaration_id: str) -> str:
    return json.dumps({
        "declaration_id": declaration_id,
        "importer": {"business_number": IMPORTER, "name": "Maple Motors Inc."},
        "accepted_at": "2026-03-10T10:00:00-05:00",
        "lines": [{"line": line, "description": "Battery electric passenger automobile" * 4}
                  for line in range(1, LINES + 1)],
    })  # fmt: skip


def large_verdict() -> str:
    finding = {"rule": "WTO-SAFEGUARD", "severity": "warning", "message": "x" * 300}
    return json.dumps({
        "outcome": "accepted",
        "total_duty": "84795120.00",
        "lines": [{"line": line, "total_duty": "84880.00", "duties": ["x" * 300]}
                  for line in range(1, LINES + 1)],
        "findings": [{**finding, "line": line} for line in range(1, LINES + 1)]
        + [{**finding, "severity": "error", "line": None}],
    })  # fmt: skip


def stored_and_decided(store: RedisStore) -> str:
    """A declaration of 999 lines with a verdict of about a megabyte, written as the API
    and a worker write them."""
    declaration_id = f"big-{uuid.uuid4().hex[:8]}"
    store.submit(declaration_id, large_body(declaration_id), "0" * 64, IMPORTER, time.time(), [])
    written = store.record(
        declaration_id, [("verdict", {})],
        {"status": "decided", "verdict": large_verdict(), "decided_at": "2026-03-10T15:00:01Z"},
        done=True,
    )  # fmt: skip
    assert written == "ok"
    return declaration_id


@contextmanager
def commands_seen(store: RedisStore) -> Iterator[Callable[[], list[list[str]]]]:
    """Every command a client sends on this store's keys while the block runs (the
    commands scripts run inside Redis are left out)."""
    seen: list[list[str]] = []
    marker = f"end-of-watch-{uuid.uuid4().hex}"
    pool = store.client.connection_pool.connection_kwargs
    watcher = redis.Redis(host=pool["host"], port=pool["port"], db=pool.get("db", 0))
    ready = threading.Event()

    def watch() -> None:
        with watcher.monitor() as monitor:
            ready.set()
            for event in monitor.listen():
                command = str(event["command"])
                if marker in command:
                    return
                if store.prefix in command and event.get("client_type") != "lua":
                    seen.append(command.split())

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert ready.wait(5)
    time.sleep(0.2)  # MONITOR is registered once the server has answered it
    try:
        yield lambda: seen
    finally:
        store.client.echo(marker)
        thread.join(10)
        watcher.close()


def on_declarations(commands: list[list[str]]) -> list[list[str]]:
    return [command for command in commands if any(":decl:" in part for part in command)]


def test_latest_submissions_read_only_the_summary_of_a_large_declaration(
    store: RedisStore,
) -> None:
    """Listing a declaration of 999 lines asks Redis for its summary fields alone (one
    HMGET), never for its body or verdict, and the row still says what the list shows."""
    declaration_id = stored_and_decided(store)
    with commands_seen(store) as seen:
        [row] = store.recent(10, IMPORTER)
    reads = on_declarations(seen())
    assert [command[0].upper() for command in reads] == ["HMGET"]
    asked = {part.strip("'\"") for part in reads[0][2:]}
    assert asked == set(SUMMARY_READ)
    assert not asked & {"body", "verdict"}
    assert (row.declaration_id, row.line_count, row.importer_name) == (
        declaration_id, LINES, "Maple Motors Inc.",
    )  # fmt: skip
    assert (row.status, row.outcome, row.total_duty) == ("decided", "accepted", "84795120.00")
    assert (row.errors, row.warnings) == (1, LINES)
    assert row.accepted_at == "2026-03-10T10:00:00-05:00"


def test_the_summary_is_written_with_the_verdict_in_the_same_step(store: RedisStore) -> None:
    """The record that stores a verdict stores its summary: one EVALSHA, nothing after it."""
    declaration_id = f"big-{uuid.uuid4().hex[:8]}"
    store.submit(declaration_id, large_body(declaration_id), "0" * 64, IMPORTER, time.time(), [])
    stored: Any = store.client.hmget(store.key("decl", declaration_id), summary.BODY_FIELDS)
    assert [value.decode() for value in stored] == [
        "Maple Motors Inc.", "2026-03-10T10:00:00-05:00", str(LINES), "CAD",
    ]  # fmt: skip
    with commands_seen(store) as seen:
        store.record(declaration_id, [("verdict", {})],
                     {"status": "decided", "verdict": large_verdict()}, done=True)  # fmt: skip
    writes = [command[0].upper() for command in on_declarations(seen())]
    assert writes[-1] in ("EVALSHA", "EVAL")
    assert not {"HSET", "HMSET"} & set(writes)
    decided: Any = store.client.hmget(store.key("decl", declaration_id), summary.VERDICT_FIELDS)
    assert [value.decode() for value in decided] == ["accepted", "84795120.00", "1", str(LINES)]


def test_a_declaration_stored_before_summaries_is_summarised_once(store: RedisStore) -> None:
    """Without a summary the list derives one from the whole record, keeps it, and the
    next listing reads the summary alone."""
    declaration_id = stored_and_decided(store)
    key = store.key("decl", declaration_id)
    store.client.hdel(key, *summary.BODY_FIELDS, "total_duty", "errors", "warnings")
    with commands_seen(store) as seen:
        [first] = store.recent(10, IMPORTER)
    assert "HGETALL" in [command[0].upper() for command in on_declarations(seen())]
    with commands_seen(store) as seen:
        [again] = store.recent(10, IMPORTER)
    assert [command[0].upper() for command in on_declarations(seen())] == ["HMGET"]
    assert first == again
    assert (again.line_count, again.errors, again.warnings) == (LINES, 1, LINES)
    assert (again.total_duty, again.currency) == ("84795120.00", "CAD")


def test_a_summary_is_not_kept_when_a_record_moved_the_declaration_meanwhile(
    store: RedisStore,
) -> None:
    """The summary derived from an old read is dropped if the audit head moved since."""
    declaration_id = stored_and_decided(store)
    key = store.key("decl", declaration_id)
    store.client.hdel(key, *summary.BODY_FIELDS)
    outcome = store.run(
        "summarise", {"decl": key}, {"head": "not-the-head", "fields": {"line_count": "7"}}
    )
    assert outcome == b"moved"
    assert store.client.hget(key, "line_count") is None
