"""The ASGI application as uvicorn serves it, configured from the environment:
`uvicorn --factory service.server:build`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from rules.catalog import load_catalog
from rules.quota import terms_on
from schemas.verification import Checkpoint
from service.api import create_app
from service.enqueuer import Coalescer
from service.recovery import RedisWatch
from service.retention import archive_daily
from settings import get_settings
from store import AuditTrails, RedisStore, now_rfc3339
from workers import permits, webhooks

log = logging.getLogger(__name__)

CHUNK = 25  # declarations per task at most
CHECKPOINT_PIECE = 250  # trails per audit checkpoint
CHECKPOINT_PAUSE = 0.01  # seconds between two checkpoints of one tick: others' turn


def write_checkpoints(store: AuditTrails, pause: float = CHECKPOINT_PAUSE) -> list[Checkpoint]:
    """Checkpoint the audit heads that changed since the last tick (none when nothing
    changed), so that an auditor can show what existed at a time (docs/security.md).

    In checkpoints of CHECKPOINT_PIECE trails, a pause between two: one checkpoint of
    the 3,000 trails a busy tick changes held Redis for about 210 ms (its script and
    its one large list entry) and took 0.6 s of the API's CPU, and every declaration
    in flight waited behind it, which was the p99 of the latency at half load whenever
    a tick fell in its window; twelve of 250 take about 5 ms of Redis each, 0.1 s in
    all (docs/performance.md)."""
    written: list[Checkpoint] = []
    while True:
        piece = store.write_checkpoint(now_rfc3339(), limit=CHECKPOINT_PIECE)
        if piece is None:
            return written
        written.append(piece)
        if len(piece.declarations) < CHECKPOINT_PIECE:
            return written
        time.sleep(pause)


def build() -> FastAPI:
    from workers.app import BULK_QUEUE, QUEUE, QUEUES
    from workers.app import app as celery_app

    settings = get_settings()
    catalog = load_catalog(settings.rules_dirs)
    store = RedisStore.from_url(
        settings.require_redis_url(), settings.redis_prefix, timeout=2.0,
        audit_key=settings.audit_key, archive_dir=settings.archive_dir,
    )  # fmt: skip

    def sender(queue: str) -> Callable[[list[str]], None]:
        def send(declaration_ids: list[str]) -> None:
            if len(declaration_ids) == 1:
                celery_app.send_task("accord.evaluate", args=declaration_ids, queue=queue)
            else:
                celery_app.send_task("accord.evaluate_many", args=[declaration_ids], queue=queue)

        return send

    # At most one task every 10 ms per queue while declarations keep coming (the first
    # after a quiet spell at once), each of up to CHUNK declarations, by one request or
    # by many (service/enqueuer.py). Single submissions and batches have queues of their
    # own, which workers take from in turn: a single declaration does not wait behind
    # another importer's thousand.
    enqueue = Coalescer(sender(QUEUE), interval=0.01, chunk=CHUNK)
    enqueue_bulk = Coalescer(sender(BULK_QUEUE), interval=0.01, chunk=CHUNK)

    def sweep_once() -> None:
        """Enqueue again what was stored but not decided long ago: a message lost between
        the store and the broker, or dropped by a broker that restarted, is found here.
        Only when the queue is empty, so a long but healthy backlog is not duplicated."""
        if any(store.queue_depth(queue) > 0 for queue in QUEUES):
            return
        now = time.time()
        stale = store.pending_since(now - settings.sweep_after)
        for declaration_id in stale:
            store.touch_pending(declaration_id, now)
        if stale:
            # a healthy service never gets here: each of these lost its first task
            log.warning(
                "re-enqueueing %d declarations stored %d s ago or more without a verdict: %s",
                len(stale),
                settings.sweep_after,
                " ".join(stale[:10]) + (" …" if len(stale) > 10 else ""),
            )
            store.count({"requeued:sweeper": len(stale)})
            enqueue_bulk(stale)

    def scheduled_runs() -> None:
        """The daily pro-rata runs: every day before today with requests waiting is run
        (an administrator may run a day earlier with POST /v1/quotas/{id}/runs); and the
        permits that expired unused give their units back."""
        today = datetime.now(UTC).date()
        for pack in catalog.current:
            for measure in pack.measures:
                if measure.quota is None or measure.quota.mode != "daily_pro_rata":
                    continue
                for day in store.ledger.pro_rata_days(measure.id):
                    if day < today:
                        result = store.ledger.run(terms_on(measure, day), day, now_rfc3339())
                        webhooks.announce_run(store, measure.id, result.permits)
                        if result.declarations:
                            enqueue_bulk(result.declarations)
        for number in permits.expire_all(store, catalog, today):
            log.info("permit %s expired unused; its units returned", number)

    def checkpoint() -> None:
        for written in write_checkpoints(store):
            log.info("audit checkpoint %d: %d trails", written.seq, len(written.declarations))

    async def sweep() -> None:
        await run_in_threadpool(scheduled_runs)
        await run_in_threadpool(sweep_once)
        await run_in_threadpool(checkpoint)
        await run_in_threadpool(archive_daily, store, settings)  # one API process a day

    # Redis back after a restart or a failover: what is pending is enqueued again at once,
    # not after ACCORD_SWEEP_AFTER (service/recovery.py).
    RedisWatch(store, enqueue_bulk).start()

    return create_app(
        settings, store, enqueue, catalog=catalog, sweep=sweep, enqueue_bulk=enqueue_bulk
    )
