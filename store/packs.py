"""What a verdict's trail names by digest, kept so that it can be read back: every rule
pack version a verdict used (for replay), and every measure-check record a trail cites.

Both are written once, by content hash, and never change; a process remembers what it
kept already, so that a worker deciding thousands of declarations writes each once.

Keys, under the store's prefix:
    pack:{sha256}        the text of every rule pack version used
    checks:{sha256}      a measure-check record with its inputs, by its digest
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Protocol

from schemas.audit import canonical_json
from store.errors import translated
from store.keyspace import Keyspace


class PackRecords(Protocol):
    """What workers keep of the packs they used, and what replay reads back."""

    def keep_pack(self, sha256: str, text: bytes) -> None:
        """Keep a pack version by its content hash."""
        ...

    def pack_text(self, sha256: str) -> bytes | None: ...

    def keep_measure_checks(self, records: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        """Keep each measure-check record once, by the SHA-256 of its canonical JSON."""
        ...


class RedisPackRecords(Keyspace):
    """Pack versions and measure-check records in Redis."""

    @functools.cached_property
    def _kept_packs(self) -> set[str]:
        return set()

    @functools.cached_property
    def _kept_checks(self) -> set[str]:
        return set()

    def check_key(self, record_sha256: str) -> str:
        """Where the measure-check record of this digest is kept."""
        return self.key("checks", record_sha256)

    @translated
    def keep_pack(self, sha256: str, text: bytes) -> None:
        """Keep a pack version by its content hash, once per process."""
        if sha256 not in self._kept_packs:
            self.client.set(self.key("pack", sha256), text, nx=True)
            self._kept_packs.add(sha256)

    @translated
    def pack_text(self, sha256: str) -> bytes | None:
        value = self.client.get(self.key("pack", sha256))
        return value if isinstance(value, bytes) else None

    @translated
    def keep_measure_checks(self, records: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        """Keep each measure-check record once, by the SHA-256 of its canonical JSON (the
        digest trails name it by): a record whose inputs changed, e.g. because a
        counterpart measure's pack changed, is another record. A process remembers what
        it kept."""
        texts = {canonical_json(record) for record in records.values()}
        fresh = {
            digest: text
            for text in texts
            if (digest := hashlib.sha256(text.encode()).hexdigest()) not in self._kept_checks
        }
        if not fresh:
            return
        pipe = self.client.pipeline(transaction=False)
        for digest, text in fresh.items():
            pipe.set(self.check_key(digest), text, nx=True)
        pipe.execute()
        self._kept_checks.update(fresh)


# mypy holds the implementation to the Protocol here, whichever methods callers use
_IMPLEMENTS: type[PackRecords] = RedisPackRecords
