"""Redis memory over years: bytes per decided declaration with its trail, and one
simulated year of the bench mix (steel and EV entries, a few personal and uncovered
lines) held in Redis, then archived (store/retention.py): Redis memory before and after,
and the archive's size on disk. On a private embedded Redis, with an audit key, so heads
carry their MACs and checkpoints are written as in production."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.mix import declarations, issue_permits
from rules import trail
from rules.catalog import load_catalog
from schemas.declaration import Declaration
from store import Archive, EmbeddedRedis, RedisStore, archive_closed, now_rfc3339
from workers.evaluation import decide_many

CHUNK = 25  # declarations per task, as service/server.py sends them

YEAR_SCALE = 1_000_000
"""Declarations a year the report scales to: an assumption, of the order of Canada's
steel and EV entries in a year (the 2026 EV quota alone is 49,000 vehicles)."""


def _used_memory(store: RedisStore) -> int:
    info = store.client.info("memory")
    return int(info["used_memory"])


def decide_all(store: RedisStore, count: int, first: int = 0) -> None:
    """Submit and decide `count` declarations of the bench mix, of seeds from `first` on."""
    catalog = load_catalog()
    for start in range(first, first + count, 1000):
        size = min(1000, first + count - start)
        bodies = declarations(size, seed=start, label=f"y{start}")
        # permits only for the declarations naming one: the ledger as a year would hold it
        named = [index for index, body in enumerate(bodies) if "permit_number" in body["lines"][0]]
        issue_permits(store, catalog, named, f"y{start}")
        for first in range(0, size, CHUNK):  # as the API hands them to the workers
            chunk = [Declaration.model_validate(body) for body in bodies[first : first + CHUNK]]
            store.submit_many([
                (parsed.declaration_id, parsed.canonical_json(), parsed.body_sha256(),
                 parsed.importer.business_number, time.time(), trail.received(parsed, "bench"))
                for parsed in chunk
            ])  # fmt: skip
            decide_many(store, catalog, [parsed.declaration_id for parsed in chunk])
        while store.write_checkpoint(now_rfc3339()) is not None:  # the sweep's, every tick
            pass


def run(directory: Path, count: int = 50_000) -> dict[str, Any]:
    redis = EmbeddedRedis(directory / "redis-year", fsync="no").start()
    archive_dir = directory / "archive"
    store = RedisStore.from_url(
        redis.url, prefix="year", audit_key=secrets.token_bytes(32), archive_dir=archive_dir
    )
    try:
        empty = _used_memory(store)
        decide_all(store, count)
        full = _used_memory(store)
        time.sleep(0.01)
        started = time.monotonic()
        archived = archive_closed(store, Archive(archive_dir), datetime.now(UTC))
        archive_seconds = time.monotonic() - started
        after = _used_memory(store)
    finally:
        store.close()
        redis.stop()
    on_disk = sum(path.stat().st_size for path in archive_dir.rglob("*.jsonl.gz"))
    per_declaration = (full - empty) / count
    kept = (after - empty) / count
    archive_per = on_disk / count
    gib = 1024**3
    return {
        "bytes_per_declaration": round(per_declaration),
        "memory_year": {
            "declarations": count,
            "archived": archived.archived,
            "used_memory_mb_before_archiving": round((full - empty) / 2**20, 1),
            "used_memory_mb_after_archiving": round((after - empty) / 2**20, 1),
            "bytes_per_declaration_after_archiving": round(kept),
            "after_vs_before": round(kept / per_declaration, 3),
            "archive_mb_on_disk": round(on_disk / 2**20, 1),
            "archive_bytes_per_declaration": round(archive_per),
            "archive_per_s": round(count / archive_seconds, 1),
            "scaled_to_declarations": YEAR_SCALE,
            "scaled_redis_gb_kept": round(per_declaration * YEAR_SCALE / gib, 2),
            "scaled_redis_gb_archived": round(kept * YEAR_SCALE / gib, 2),
            "scaled_archive_gb": round(archive_per * YEAR_SCALE / gib, 2),
        },
    }
