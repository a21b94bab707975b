"""The archive of old declarations: append-only, compressed JSON Lines on disk.

A declaration closed (decided, failed or cancelled) longer ago than the retention age
(ACCORD_RETAIN_DAYS) leaves Redis for a file of its day of decision,
`{archive dir}/{YYYY}/{YYYY-MM-DD}.jsonl.gz`: everything needed to serve it (every
field of its record, body and verdict included, its whole audit trail as stored, its
allocation records). Redis keeps a stub in its place (`decl:{id}`: status, summary,
audit head, event count, head MAC, checkpoint, and where the line is), so verification
still holds the archived trail to a head and a MAC the file cannot change.

Each line is its own gzip member: the file as a whole is an ordinary `.jsonl.gz` that
`zcat` reads, and the byte offset of a member is enough to read one line back. A line
is written and fsynced before Redis lets go of the declaration; a crash between the two
leaves the declaration in both, and the next run finds the line already in the file (by
id and head) instead of writing it twice. A member cut short by a crash mid-write is
cut off the file before anything is appended to it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from store.errors import StoreError


class ArchiveError(StoreError):
    """An archived declaration cannot be read back (file missing, unreadable, or the line
    there is not the declaration's)."""


def _member(line: dict[str, Any]) -> bytes:
    """One line as one gzip member (no timestamp, so equal lines compress equally)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    return compressor.compress(orjson.dumps(line) + b"\n") + compressor.flush()


def _members(handle: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """(offset, line) of every member from the start of the file; a last member cut
    short yields (its offset, None)."""
    offset = 0
    handle.seek(0)
    pending = handle.read()
    while offset < len(pending):
        reader = zlib.decompressobj(31)
        try:
            text = reader.decompress(pending[offset:])
        except zlib.error:
            yield offset, None
            return
        if not reader.eof:
            yield offset, None
            return
        yield offset, text
        offset = len(pending) - len(reader.unused_data)


@dataclass
class DayFile:
    """A day's archive file, open for appending under an exclusive lock, with the
    declarations it already holds (id -> (offset, audit head))."""

    path: Path
    handle: BinaryIO
    held: dict[str, tuple[int, str]] = field(default_factory=dict)
    dirty: bool = False

    def append(self, line: dict[str, Any]) -> int:
        offset = self.handle.seek(0, os.SEEK_END)
        self.handle.write(_member(line))
        self.held[line["declaration_id"]] = (offset, line["fields"].get("audit_head", ""))
        self.dirty = True
        return offset

    def sync(self) -> None:
        if self.dirty:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.dirty = False


class Archive:
    """The archive directory: day files written by the archive run, lines read back by
    the store for archived declarations."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def relative(day: date) -> str:
        return f"{day.year:04d}/{day.isoformat()}.jsonl.gz"

    @contextlib.contextmanager
    def day_file(self, name: str) -> Iterator[DayFile]:
        """Open a day's file for appending, locked against other archive runs on this
        host, after reading what it holds and cutting off a member torn by a crash."""
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        with path.open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            if created:  # the new name must survive a crash as surely as its lines
                directory = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
            day = DayFile(path, handle)
            for offset, text in _members(handle):
                if text is None:
                    handle.truncate(offset)
                    os.fsync(handle.fileno())
                    break
                held = orjson.loads(text)
                day.held[held["declaration_id"]] = (offset, held["fields"].get("audit_head", ""))
            try:
                yield day
            finally:
                day.sync()

    def read(self, name: str, offset: int, declaration_id: str) -> dict[str, Any]:
        """The archived line of a declaration, from its file and offset."""
        path = self.directory / name
        try:
            stat = path.stat()
        except OSError as exc:
            raise ArchiveError(f"cannot read the archive file {name}: {exc}") from exc
        line = _read_line(path, offset, stat.st_mtime_ns, stat.st_size)
        if line.get("declaration_id") != declaration_id:
            raise ArchiveError(f"the archive line at {name}:{offset} is not {declaration_id}'s")
        return line

    def lines(self, name: str) -> Iterator[dict[str, Any]]:
        """Every line of a day's file, in order (for a full export or a restore)."""
        with (self.directory / name).open("rb") as handle:
            for _, text in _members(handle):
                if text is None:
                    return
                yield orjson.loads(text)


@functools.lru_cache(maxsize=256)
def _read_line(path: Path, offset: int, mtime_ns: int, size: int) -> dict[str, Any]:
    """A reader that asks for the record and then for the trail decompresses the line
    once; the file's mtime and size are in the key, so a file changed behind the
    archive's back is read again (and verification sees the change). Callers copy."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            reader = zlib.decompressobj(31)
            text = b""
            while not reader.eof:
                chunk = handle.read(64 * 1024)
                if not chunk:
                    raise ArchiveError(f"the archive line at {path}:{offset} is cut short")
                text += reader.decompress(chunk)
        line = orjson.loads(text)
    except (OSError, zlib.error, orjson.JSONDecodeError) as exc:
        raise ArchiveError(f"cannot read the archive line at {path}:{offset}: {exc}") from exc
    if not isinstance(line, dict):
        raise ArchiveError(f"the archive line at {path}:{offset} is not a declaration")
    return line
