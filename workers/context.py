"""What a worker process keeps between tasks: its store connection, created on first use
in the process (after the fork, like the durable-rules host), and its pack catalog,
plain data that the worker's main process loads before it forks its pool
(workers/app.py)."""

from __future__ import annotations

import functools
import os

from rules.catalog import Catalog, load_catalog
from settings import get_settings
from store import RedisStore


@functools.cache
def _store_for(pid: int) -> RedisStore:
    settings = get_settings()
    return RedisStore.from_url(
        settings.require_redis_url(), settings.redis_prefix, audit_key=settings.audit_key,
        archive_dir=settings.archive_dir,
    )  # fmt: skip


def store() -> RedisStore:
    return _store_for(os.getpid())


@functools.cache
def catalog() -> Catalog:
    return load_catalog(get_settings().rules_dirs)
