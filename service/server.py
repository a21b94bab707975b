"""The ASGI application as uvicorn serves it, configured from the environment:
`uvicorn --factory service.server:build`."""

from __future__ import annotations

import gc
from collections.abc import Callable

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from rules.catalog import load_catalog
from service.api import create_app
from service.enqueuer import Coalescer
from service.recovery import RedisWatch
from settings import get_settings
from store import RedisStore
from workers.schedule import Schedule

CHUNK = 25  # declarations per task at most


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

    # the periodic jobs (workers/schedule.py), each in a thread, off the event loop
    schedule = Schedule(store, catalog, settings, QUEUES, enqueue_bulk)

    async def sweep() -> None:
        for step in schedule.steps():
            await run_in_threadpool(step)

    async def lost_watch() -> None:
        await run_in_threadpool(schedule.lost_tasks)

    # Redis back after a restart or a failover: what is pending is enqueued again at once,
    # not after ACCORD_SWEEP_AFTER (service/recovery.py).
    RedisWatch(store, enqueue_bulk).start()

    app = create_app(
        settings, store, enqueue, catalog=catalog, sweep=sweep, enqueue_bulk=enqueue_bulk,
        lost_watch=lost_watch,
    )  # fmt: skip
    # What the process loaded once (the packs, the app) is kept out of the collector's
    # full passes, which walked all of it: 45 to 80 ms each on the benchmark machine,
    # every request in flight waiting (docs/performance.md). What loading left behind is
    # collected first, not frozen for good.
    gc.collect()
    gc.freeze()
    return app
