"""The only importer of redis: declarations, verdicts, audit trails, the quota ledger
(atomic Lua scripts), permits and VINs. `RedisStore` (store/redis_store.py) is one
object made of aggregates, each with the Protocol its callers type against:
`Declarations`, `AuditTrails`, `Operations`, `PackRecords`, and the ledger's
`QuotaLedger` and `Permits`; `MemoryDeclarations` (store/memory.py) is `Declarations`
without Redis.

    StoreError
    ├── StoreUnavailable   Redis cannot be reached (the API answers 503, workers retry)
    └── NotFound           no such declaration, permit or quota
"""

from store.errors import NotFound, StoreError, StoreUnavailable

__all__ = ["NotFound", "StoreError", "StoreUnavailable"]
