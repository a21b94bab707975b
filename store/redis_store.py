"""The store: one object over one Redis connection and key prefix, made of its aggregates.

    store/declarations.py   Declarations   submit, record, take and list declarations
    store/audit.py          AuditTrails    read trails, write and read checkpoints,
                                           decisions by rule
    store/operations.py     Operations     ping, heartbeats, counters, claims, sessions,
                                           the subscription to status changes
    store/packs.py          PackRecords    pack versions and measure-check records
    store/ledger.py         Ledger         the quota ledger and its permits (`.ledger`)
    store/rates.py          ExchangeRates  exchange rates as loaded, and what replaced what

`RedisStore` is all of them at once (each aggregate is a class over the shared
`Keyspace`, store/keyspace.py), so a caller holding one keeps one connection and calls
any method by its name; a caller that needs one aggregate types its parameter with that
aggregate's Protocol, and can be given another implementation of it (store/memory.py).
Every write that must be atomic is one Lua script (`store/lua/`); each module lists the
keys it owns. Besides those:
    alloc:{id}, allocreq:{id}  the declaration's allocation records (store/ledger.py)
    {QUOTA}:...                the quota ledger (store/ledger.py)
    archive:scanned            where the last archive run stopped (store/retention.py)
    archive:lock               held by the archive run in progress

An archived declaration (store/archive.py) keeps in `decl:{id}` only its stub: the
record without body, verdict and error, plus `archive` (its day file), `archive_offset`
and `archived_at`; its audit list and allocation records are in the file. Reads look
there when they find a stub, and take the head, count, MAC and checkpoint from Redis.
"""

from __future__ import annotations

from pathlib import Path

from store import connection
from store.audit import RedisAuditTrails
from store.declaration_writes import RedisDeclarations
from store.declarations import (
    SUMMARY_READ,
    DeclarationRecord,
    DeclarationSummary,
    Submission,
    SubmitResult,
    Taken,
    Write,
)
from store.keyspace import now_rfc3339, today
from store.operations import RedisOperations
from store.packs import RedisPackRecords
from store.rates import RedisExchangeRates

# the names callers have always imported from here; each is defined once, where listed
__all__ = [
    "SUMMARY_READ",
    "DeclarationRecord",
    "DeclarationSummary",
    "RedisStore",
    "Submission",
    "SubmitResult",
    "Taken",
    "Write",
    "now_rfc3339",
    "today",
]


class RedisStore(
    RedisDeclarations, RedisAuditTrails, RedisOperations, RedisPackRecords, RedisExchangeRates
):
    """The store's one implementation; construct with `RedisStore.from_url`."""

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str = "accord",
        timeout: float = 5.0,
        audit_key: bytes | None = None,
        archive_dir: Path | None = None,
    ) -> RedisStore:
        store = cls(connection.client(url, timeout), prefix, audit_key, archive_dir)
        store.replicas = connection.replicas_to_wait(url)
        return store
