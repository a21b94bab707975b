"""The only importer of redis: declarations, verdicts, audit trails, the quota ledger
(atomic Lua scripts), permits and VINs. This module is the store's public face: callers
outside store/ import from `store`, never from its modules (`make lint` holds that), and
type their parameters against the Protocol of the aggregate they use:

    Declarations    store/declarations.py   submit, record, take and list declarations
    AuditTrails     store/audit.py          trails, checkpoints, decisions by rule
    Operations      store/operations.py     ping, heartbeats, counters, claims, sessions
    PackRecords     store/packs.py          pack versions and measure-check records
    ExchangeRates   store/rates.py          exchange rates as loaded, and what replaced what
    QuotaLedger     store/ledger.py         the quota ledger (`HoldsLedger`: a store's
    Permits                                 `.ledger`), and its permits (`HoldsPermits`)
    Store           all of them on one connection: what `RedisStore` is

`RedisStore.from_url` constructs the one implementation; `MemoryDeclarations`
(store/memory.py) is `Declarations` without Redis. The webhooks' subscriptions and
outbox (`RedisWebhooks`) share the store's connection and prefix. `EmbeddedRedis`
(store/embedded.py) starts the private Redis of `accord run`, the simulator and the
tests.

    StoreError
    ├── StoreUnavailable   Redis cannot be reached (the API answers 503, workers retry)
    │   └── NotReplicated  a write was not acknowledged by the replicas asked for
    ├── NotFound           no such declaration, permit or quota
    ├── Unreadable         a declaration's stored value does not read back (changed by
    │                      hand): the API answers 409, its audit fails verification
    └── ArchiveBusy        another archive run holds the lock
"""

from typing import Protocol

import redis

from schemas.quota import Allocation
from store.archive import Archive
from store.audit import AuditTrails, DecisionRow
from store.connection import broker
from store.declarations import (
    SUMMARY_READ,
    DeclarationRecord,
    Declarations,
    DeclarationSummary,
    Submission,
    SubmitResult,
    Taken,
    Write,
)
from store.embedded import (
    DirectoryInUse,
    EmbeddedRedis,
    free_port,
    lock_directory,
    running_url,
    server_binary,
)
from store.errors import NotFound, NotReplicated, StoreError, StoreUnavailable, Unreadable
from store.keyspace import now_rfc3339, today
from store.ledger import (
    MAX_EVENTS_PAGE,
    HoldsLedger,
    HoldsPermits,
    PermitDecision,
    Permits,
    QuotaLedger,
    RunResult,
)
from store.memory import MemoryDeclarations
from store.operations import Operations
from store.packs import PackRecords
from store.rates import ExchangeRates
from store.redis_store import RedisStore
from store.retention import ArchiveBusy, ArchiveRun, archive_closed
from store.webhooks import RedisWebhooks


class Store(
    Declarations, AuditTrails, Operations, PackRecords, ExchangeRates, HoldsLedger, Protocol
):
    """Every aggregate at once, on one connection and key prefix: for the callers that
    use several (the API's services, its views and long polls)."""

    @property
    def client(self) -> redis.Redis:
        """The connection, for what shares it: the webhooks (`RedisWebhooks`)."""
        ...

    @property
    def prefix(self) -> str: ...

    @property
    def audit_key(self) -> bytes | None:
        """The service's key, under which audit heads are authenticated."""
        ...

    @property
    def archive(self) -> Archive | None:
        """Where archived declarations are read back from, when the store has one."""
        ...

    def allocation(self, declaration_id: str) -> Allocation | None:
        """The declaration's allocation record, from the ledger or its archive line."""
        ...

    def close(self) -> None: ...


# mypy holds the implementation to the Protocol here
_IMPLEMENTS: type[Store] = RedisStore

__all__ = [
    "MAX_EVENTS_PAGE",
    "SUMMARY_READ",
    "Archive",
    "ArchiveBusy",
    "ArchiveRun",
    "AuditTrails",
    "DecisionRow",
    "DeclarationRecord",
    "DeclarationSummary",
    "Declarations",
    "DirectoryInUse",
    "EmbeddedRedis",
    "ExchangeRates",
    "HoldsLedger",
    "HoldsPermits",
    "MemoryDeclarations",
    "NotFound",
    "NotReplicated",
    "Operations",
    "PackRecords",
    "PermitDecision",
    "Permits",
    "QuotaLedger",
    "RedisStore",
    "RedisWebhooks",
    "RunResult",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Submission",
    "SubmitResult",
    "Taken",
    "Unreadable",
    "Write",
    "archive_closed",
    "broker",
    "free_port",
    "lock_directory",
    "now_rfc3339",
    "running_url",
    "server_binary",
    "today",
]
