"""The store's exceptions; redis-py's own never leave this package (`translated`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import redis

P = ParamSpec("P")
T = TypeVar("T")


class StoreError(Exception):
    """Base of every error raised by `store`."""


class StoreUnavailable(StoreError):
    """Redis cannot be reached or did not answer in time."""


class NotReplicated(StoreUnavailable):
    """A submission reached the primary but no replica within the wait: a failover now
    could lose it, so it is not acknowledged (it may still be evaluated)."""


class NotFound(StoreError):
    """The declaration, permit or quota asked for does not exist."""


class Unreadable(StoreError):
    """A declaration's stored value does not read back (changed by hand in Redis, or
    damaged): `key` names it (e.g. doc:{id}), `seq` the first audit event it holds (1 for
    a decided declaration's document, which holds the trail from its start), `reason`
    what is wrong. Reads answer it, never serve around it: the API a 409 naming it, the
    audit a verification that fails there. `business_number` is the record's, when its
    hash could be read, so that only who may see the declaration learns of it."""

    def __init__(
        self, declaration_id: str, key: str, seq: int, reason: str, business_number: str = ""
    ) -> None:
        self.declaration_id, self.key, self.seq = declaration_id, key, seq
        self.reason, self.business_number = reason, business_number
        what = WHAT_IS_KEPT.get(key.split(":", 1)[0], "")
        super().__init__(f"the stored value {key}{what} cannot be read: {reason}")


WHAT_IS_KEPT = {
    "doc": " (the body, the verdict and the audit trail up to the decision)",
    "body": " (the body)",
    "verdict": " (the verdict)",
    "audit": " (audit events)",
    "decl": " (the record's fields)",
}
"""What each key of a declaration holds, as an Unreadable names it (store/layout.py)."""


def translated(method: Callable[P, T]) -> Callable[P, T]:
    """redis-py's exceptions become the store's at this boundary."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unavailable: {exc}") from exc
        except redis.exceptions.BusyLoadingError as exc:
            raise StoreUnavailable("Redis is loading its data; try again shortly") from exc
        except redis.exceptions.RedisError as exc:
            raise StoreError(f"Redis refused the operation: {exc}") from exc

    return wrapper
