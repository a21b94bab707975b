"""The retention run against a real Redis and a real directory: closed declarations move
to compressed day files and come back through the store, Redis keeps only their stubs,
and a run stopped between the file and Redis, or torn mid-write, is finished cleanly."""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpers import declaration
from rules import trail
from schemas.declaration import Declaration
from store import Archive, RedisStore, archive_closed


def closed(store: RedisStore, declaration_id: str, status: str = "decided") -> None:
    """A declaration stored and taken to `status`, with a verdict when decided."""
    body = Declaration.model_validate(declaration(declaration_id))
    store.submit(
        declaration_id, body.canonical_json(), body.body_sha256(),
        body.importer.business_number, time.time(), trail.received(body, "test"),
    )  # fmt: skip
    fields = {"status": status}
    if status == "decided":
        fields |= {"verdict": json.dumps({"outcome": "accepted"}), "decided_at": "2026-03-01"}
    store.record(declaration_id, [(status, {"by": "test"})], fields, done=True)


def archive_now(store: RedisStore, directory: Path, **options: object) -> object:
    time.sleep(0.002)  # closed strictly before the cutoff; submitted after the last one
    return archive_closed(store, Archive(directory), datetime.now(UTC), **options)  # type: ignore[arg-type]


@pytest.fixture
def archived_store(store: RedisStore, tmp_path: Path) -> RedisStore:
    """The test's store, reading its archive from the test's directory."""
    return RedisStore(store.client, store.prefix, archive_dir=tmp_path)


def test_closed_declarations_leave_redis_and_read_back_the_same(
    archived_store: RedisStore, tmp_path: Path
) -> None:
    """Decided, failed and cancelled declarations are archived; get and audit_raw give
    back what they gave before, and Redis keeps a stub without body, verdict or trail."""
    store = archived_store
    for name, status in (("a-1", "decided"), ("a-2", "failed"), ("a-3", "cancelled")):
        closed(store, name, status)
    before = {name: (store.get(name), store.audit_raw(name)) for name in ("a-1", "a-2", "a-3")}
    run = archive_now(store, tmp_path)
    assert run.archived == 3  # type: ignore[attr-defined]
    for name, (record, events) in before.items():
        after = store.get(name)
        assert after is not None and record is not None
        assert after.archive is not None
        assert (after.body, after.verdict, after.status) == (
            record.body,
            record.verdict,
            record.status,
        )
        assert (after.audit_head, after.audit_len, after.audit_mac) == (
            record.audit_head, record.audit_len, record.audit_mac,
        )  # fmt: skip
        assert [str(item) for item in store.audit_raw(name)] == [
            item.decode() if isinstance(item, bytes) else item for item in events
        ]
        stub = store.client.hgetall(store.key("decl", name))
        assert b"body" not in stub and b"verdict" not in stub
        assert not store.client.exists(
            *(store.key(kind, name) for kind in ("audit", "doc", "body", "verdict"))
        )
    files = list(tmp_path.rglob("*.jsonl.gz"))
    assert len(files) == 1
    with gzip.open(files[0], "rt") as handle:  # an ordinary .jsonl.gz, for zcat and jq
        assert sorted(json.loads(line)["declaration_id"] for line in handle) == [
            "a-1", "a-2", "a-3",
        ]  # fmt: skip
    assert archive_now(store, tmp_path).archived == 0  # type: ignore[attr-defined]


def test_an_open_declaration_stays_and_is_archived_once_closed(
    archived_store: RedisStore, tmp_path: Path
) -> None:
    """A declaration still queued is kept in Redis and looked at again by the next run."""
    store = archived_store
    closed(store, "o-1", "queued")
    run = archive_now(store, tmp_path)
    assert (run.archived, run.kept) == (0, 1)  # type: ignore[attr-defined]
    store.record("o-1", [("cancelled", {"by": "test"})], {"status": "cancelled"}, done=True)
    assert archive_now(store, tmp_path).archived == 1  # type: ignore[attr-defined]
    record = store.get("o-1")
    assert record is not None and record.status == "cancelled" and record.archive


def test_a_run_stopped_after_the_file_is_finished_without_a_second_line(
    archived_store: RedisStore, tmp_path: Path
) -> None:
    """A crash after the line is fsynced but before Redis lets go leaves the declaration
    in both; the next run finds the line by id and head and writes no second one."""
    store = archived_store
    closed(store, "c-1")

    def crash() -> None:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        archive_now(store, tmp_path, after_write=crash)
    assert store.client.exists(store.key("doc", "c-1"))  # still whole in Redis
    run = archive_now(store, tmp_path)
    assert (run.archived, run.already) == (0, 1)  # type: ignore[attr-defined]
    (path,) = tmp_path.rglob("*.jsonl.gz")
    with gzip.open(path, "rt") as handle:
        assert len(handle.readlines()) == 1
    record = store.get("c-1")
    assert record is not None and record.archive and record.verdict


def test_a_line_torn_by_a_crash_is_cut_off_before_the_next_append(
    archived_store: RedisStore, tmp_path: Path
) -> None:
    """Half a gzip member at the end of a day file is removed; the file stays readable."""
    store = archived_store
    closed(store, "t-1")
    archive_now(store, tmp_path)
    (path,) = tmp_path.rglob("*.jsonl.gz")
    whole = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(whole[: len(whole) // 2])
    closed(store, "t-2")
    archive_now(store, tmp_path)
    with gzip.open(path, "rt") as handle:
        assert [json.loads(line)["declaration_id"] for line in handle] == ["t-1", "t-2"]
    assert (store.get("t-1"), store.get("t-2")) != (None, None)


def test_an_archived_trail_takes_no_more_events(archived_store: RedisStore, tmp_path: Path) -> None:
    """Appending to an archived declaration's trail is refused, not started afresh."""
    store = archived_store
    closed(store, "x-1")
    archive_now(store, tmp_path)
    outcome = store.record("x-1", [("cancelled", {"by": "test"})], {"status": "cancelled"})
    assert outcome == "archived"
    assert not store.client.exists(store.key("audit", "x-1"))
