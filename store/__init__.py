"""The only importer of redis: declarations, verdicts, audit trails, the quota ledger
(atomic Lua scripts), permits and VINs, behind the small interface of `RedisStore`.

    StoreError
    ├── StoreUnavailable   Redis cannot be reached (the API answers 503, workers retry)
    └── NotFound           no such declaration, permit or quota
"""

from store.errors import NotFound, StoreError, StoreUnavailable

__all__ = ["NotFound", "StoreError", "StoreUnavailable"]
