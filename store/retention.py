"""The retention run: declarations closed longer ago than the retention age leave Redis
for the archive (store/archive.py), their audit heads, MACs and checkpoints staying.

A run scans the submissions index from where the last run stopped, up to the cutoff.
A declaration is archived when it is closed (decided, failed or cancelled) and its last
change is older than the cutoff; one that is not yet (still open, or changed since)
holds the scan position, so the next run looks at it again. For each page: the lines are
written and fsynced first, then one script per declaration swaps the record for its stub
(refused if the declaration moved meanwhile). One run at a time across hosts (a lock in
Redis), one writer per file on a host (a file lock). The quota ledger is not archived:
it is kept per quota year and is small.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson

from store.archive import Archive, DayFile
from store.errors import StoreError, translated
from store.keyspace import Keyspace, decoded, now_rfc3339
from store.layout import stored_fields, trail_of

CLOSED = ("decided", "failed", "cancelled")
DROPPED = ("body", "verdict", "error")
"""The fields of a record that leave Redis with the archive; the rest stays in the stub."""


class ArchiveBusy(StoreError):
    """Another archive run holds the lock (on this host or another)."""


@dataclass(frozen=True)
class ArchiveRun:
    scanned: int
    archived: int
    already: int
    kept: int
    files: tuple[str, ...]


def _closed_at(fields: dict[str, str], last_event: str | None) -> str:
    """When the declaration last changed: its decision, or its trail's last event."""
    if last_event:
        at = orjson.loads(last_event).get("at")
        if isinstance(at, str):
            return at
    return fields.get("decided_at") or ""


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@translated
def archive_closed(
    store: Keyspace,
    archive: Archive,
    cutoff: datetime,
    page: int = 200,
    after_write: Callable[[], None] | None = None,
    wait: float = 0.0,
) -> ArchiveRun:
    """Archive every declaration closed before `cutoff`, once no other run holds the
    lock (waiting up to `wait` seconds for it). `after_write` is called once the lines
    of a page are on disk, before Redis lets go of them (tests stop there)."""
    with _run_lock(store, wait), contextlib.ExitStack() as open_files:
        days: dict[str, DayFile] = {}

        def day_file(name: str) -> DayFile:
            """A day's file, opened (and read) once per run however many pages it takes."""
            if name not in days:
                days[name] = open_files.enter_context(archive.day_file(name))
            return days[name]

        return _archive_closed(store, day_file, cutoff, page, after_write)


@contextlib.contextmanager
def _run_lock(store: Keyspace, wait: float) -> Iterator[None]:
    key = store.key("archive", "lock")
    token = secrets.token_hex(8)
    deadline = time.monotonic() + wait
    while not store.client.set(key, token, nx=True, ex=3600):
        if time.monotonic() >= deadline:
            raise ArchiveBusy("another archive run holds the lock; try again later")
        time.sleep(0.2)
    try:
        yield
    finally:
        if decoded(store.client.get(key)) == token:
            store.client.delete(key)


def _archive_closed(
    store: Keyspace,
    day_file: Callable[[str], DayFile],
    cutoff: datetime,
    page: int,
    after_write: Callable[[], None] | None,
) -> ArchiveRun:
    cursor_key = store.key("archive", "scanned")
    start = decoded(store.client.get(cursor_key)) or "-inf"
    end = cutoff.timestamp()
    held: float | None = None
    scanned = archived = already = kept = 0
    files: set[str] = set()
    offset = 0
    while True:
        members = cast(
            list[tuple[bytes, float]],
            store.client.zrangebyscore(
                store.key("submitted"), start, end, offset, page, withscores=True
            ),
        )
        if not members:
            break
        offset += len(members)
        scanned += len(members)
        ids = [decoded(member) or "" for member, _ in members]
        pipe = store.client.pipeline(transaction=True)  # each record whole (get_many)
        for declaration_id in ids:
            pipe.hgetall(store.key("decl", declaration_id))
            pipe.get(store.key("body", declaration_id))
            pipe.get(store.key("verdict", declaration_id))
            pipe.get(store.key("doc", declaration_id))
            pipe.lindex(store.key("audit", declaration_id), -1)
        replies = pipe.execute()
        chosen: list[tuple[str, dict[str, str], str]] = []
        for position, (declaration_id, (_, score)) in enumerate(zip(ids, members, strict=True)):
            raw, body, verdict, document, last = replies[5 * position : 5 * position + 5]
            if not raw:
                continue
            fields = {
                name: value or ""
                for name, value in stored_fields(raw, body, verdict, document).items()
            }
            if "archive" in fields:
                continue
            trail = trail_of(None if last is not None else document, [last] if last else [])
            last_event = trail[-1].decode() if trail else None
            closed_at = _closed_at(fields, last_event)
            if fields.get("status") in CLOSED and closed_at and _instant(closed_at) < cutoff:
                chosen.append((declaration_id, fields, closed_at))
            else:
                kept += 1
                held = score if held is None else min(held, score)
        placed = _write_lines(store, day_file, chosen)
        if after_write is not None:
            after_write()
        pipe = store.client.pipeline(transaction=False)
        for declaration_id, fields, name, line_offset, _ in placed:
            store.run(
                "archive",
                {role: store.key(role, declaration_id)
                 for role in ("decl", "audit", "body", "verdict", "doc", "alloc", "allocreq")},
                {"status": fields["status"], "head": fields.get("audit_head", ""),
                 "file": name, "offset": str(line_offset), "at": now_rfc3339(),
                 "drop": DROPPED},
                client=pipe,
            )  # fmt: skip
        for (_, _, name, _, found), outcome in zip(placed, pipe.execute(), strict=True):
            files.add(name)
            if decoded(outcome) == "ok":
                archived += 1 if not found else 0
                already += 1 if found else 0
            elif decoded(outcome) == "archived":
                already += 1
            else:  # it moved on since it was read: the next run looks at it again
                kept += 1
    store.client.set(cursor_key, repr(held if held is not None else end))
    return ArchiveRun(scanned, archived, already, kept, tuple(sorted(files)))


def _write_lines(
    store: Keyspace,
    day_file: Callable[[str], DayFile],
    chosen: list[tuple[str, dict[str, str], str]],
) -> list[tuple[str, dict[str, str], str, int, bool]]:
    """Write the chosen declarations' lines to their day files, fsynced, and say where
    each is (found: it was there already, from a run that stopped before Redis let go)."""
    pipe = store.client.pipeline(transaction=True)  # a document and its list of one moment
    for declaration_id, _, _ in chosen:
        pipe.get(store.key("doc", declaration_id))
        pipe.lrange(store.key("audit", declaration_id), 0, -1)
        pipe.get(store.key("alloc", declaration_id))
        pipe.get(store.key("allocreq", declaration_id))
    replies = pipe.execute()
    by_file: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for position, (declaration_id, fields, closed_at) in enumerate(chosen):
        document, audit, alloc, allocreq = replies[4 * position : 4 * position + 4]
        line = {
            "declaration_id": declaration_id,
            "closed_at": closed_at,
            "fields": dict(sorted(fields.items())),  # by name: docs/retention.md
            "audit": [event.decode() for event in trail_of(document, audit)],
            "alloc": decoded(alloc),
            "allocreq": decoded(allocreq),
        }
        name = Archive.relative(_instant(closed_at).astimezone(UTC).date())
        by_file.setdefault(name, []).append((position, line))
    placed: dict[int, tuple[str, dict[str, str], str, int, bool]] = {}
    for name, lines in by_file.items():
        day = day_file(name)
        for position, line in lines:
            placed[position] = _place(day, name, line)
        day.sync()
    return [placed[position] for position in sorted(placed)]


def _place(
    day: DayFile, name: str, line: dict[str, Any]
) -> tuple[str, dict[str, str], str, int, bool]:
    declaration_id = line["declaration_id"]
    fields = line["fields"]
    there = day.held.get(declaration_id)
    if there is not None and there[1] == fields.get("audit_head", ""):
        return declaration_id, fields, name, there[0], True
    return declaration_id, fields, name, day.append(line), False
