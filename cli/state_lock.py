"""One `accord run` per state directory.

`accord run` keeps its state under ACCORD_VAR_DIR (var/): the embedded Redis's
append-only file, the tokens file it writes, the audit key. Two services on one directory
would start two Redis servers on one append-only file, which loses data, and the second's
Ctrl-C would remove files the first still uses. So `accord run` takes an exclusive lock
on `var/run.lock` (flock) before it touches anything, and holds it for its lifetime; its
children inherit the descriptor, so the directory stays locked while any of them lives.
The file says who holds it (pid, API address), for the message the second one prints.
The kernel releases the lock when the last holder exits: nothing to clean up after a
crash, and no stale lock to break by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

from store import lock_directory

LOCK_FILE = "run.lock"


class StateDirectoryInUse(RuntimeError):
    """Another `accord run` holds the state directory."""


class StateLock:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.descriptor: int | None = None

    def acquire(self, api: str) -> StateLock:
        try:
            self.descriptor = lock_directory(self.directory, LOCK_FILE)
        except BlockingIOError:
            raise StateDirectoryInUse(self._held_by()) from None
        holder = json.dumps({"pid": os.getpid(), "api": api}).encode()
        os.ftruncate(self.descriptor, 0)
        os.pwrite(self.descriptor, holder, 0)
        return self

    def _held_by(self) -> str:
        where = self.directory.resolve()
        try:
            holder = json.loads((self.directory / LOCK_FILE).read_text())
            pid = int(holder["pid"])
            who = f"pid {pid}, API {holder['api']}"
            if not Path(f"/proc/{pid}").exists():
                who += "; that process has exited, but processes it started still run"
        except (OSError, ValueError, KeyError, TypeError):
            who = "a process that has not said who it is yet"
        return f"{where} is in use by another accord run ({who}); stop it first"

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None
