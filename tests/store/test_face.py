"""The store's public face: what callers outside store/ may import, named once in
`store.__all__`. A name added to or dropped from it is a change of the store's contract
with every caller, so it is made here on purpose, not by accident."""

from __future__ import annotations

import inspect
from typing import Protocol

import store

FACE = {
    # the Protocols callers type against, and the one joining them
    "AuditTrails", "Declarations", "ExchangeRates", "HoldsLedger", "HoldsPermits",
    "Operations", "PackRecords", "Permits", "QuotaLedger", "Store",
    # the record types the aggregates answer and take
    "DeclarationRecord", "DeclarationSummary", "DecisionRow", "PermitDecision", "RunResult",
    "Submission", "SubmitResult", "Taken", "Write", "ArchiveRun", "SUMMARY_READ",
    "MAX_EVENTS_PAGE",
    # the implementations, and what constructs or starts them
    "RedisStore", "MemoryDeclarations", "RedisWebhooks", "Archive", "archive_closed",
    "EmbeddedRedis", "DirectoryInUse", "free_port", "lock_directory", "running_url",
    "server_binary", "broker",
    # the errors
    "StoreError", "StoreUnavailable", "NotReplicated", "NotFound", "ArchiveBusy", "Unreadable",
    # the store's clock
    "now_rfc3339", "today",
}  # fmt: skip

PROTOCOLS = {
    "AuditTrails", "Declarations", "ExchangeRates", "HoldsLedger", "HoldsPermits",
    "Operations", "PackRecords", "Permits", "QuotaLedger", "Store",
}  # fmt: skip


def test_the_store_exports_exactly_its_face() -> None:
    """`store.__all__` is the pinned list, and every name in it resolves."""
    assert set(store.__all__) == FACE
    assert len(store.__all__) == len(FACE)  # no name listed twice
    for name in store.__all__:
        assert getattr(store, name) is not None, name


def test_the_protocols_are_protocols_and_the_store_joins_them() -> None:
    """Callers type against Protocols: each exported one is a `typing.Protocol`, and
    `Store` is every aggregate at once."""
    for name in PROTOCOLS:
        assert Protocol in inspect.getmro(getattr(store, name)), name
    joined = inspect.getmro(store.Store)
    for part in ("Declarations", "AuditTrails", "Operations", "PackRecords", "ExchangeRates",
                 "HoldsLedger"):  # fmt: skip
        assert getattr(store, part) in joined, part
