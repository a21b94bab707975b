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
