"""The one module that owns the Celery app and its reliability settings.

- JSON only: pickle is never accepted from the broker.
- `acks_late` with `task_reject_on_worker_lost`: a message is acknowledged after its
  task ran, and a task whose worker process died is put back on the queue.
- `worker_prefetch_multiplier = 1`: a worker holds one message beyond the one it runs,
  so a crash strands as little as possible until the visibility timeout returns it.
- the Redis transport's `visibility_timeout` (ACCORD_VISIBILITY_TIMEOUT) is how long an
  unacknowledged message waits before Redis redelivers it; tasks take milliseconds, so
  it bounds only the recovery after a whole worker node is lost.
- two queues: single submissions go to `QUEUE`, batches (and the sweeper's and pro-rata
  runs' re-enqueues) to `BULK_QUEUE`. Every worker consumes both, and the Redis transport
  takes from them in turn, so a single declaration waits behind at most about one chunk
  of another importer's batch per worker process instead of behind the whole batch.
Evaluations are idempotent by declaration id, so every redelivery is harmless.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

from celery import Celery
from celery.signals import worker_ready
from kombu import Queue

from service.settings import get_settings

QUEUE = "accord.evaluate"
BULK_QUEUE = "accord.bulk"
QUEUES = (QUEUE, BULK_QUEUE)


def make_app() -> Celery:
    settings = get_settings()
    app = Celery("accord", include=["workers.tasks"])
    app.conf.update(
        broker_url=settings.broker_url or settings.redis_url or "redis://127.0.0.1:6379/0",
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2,
        task_publish_retry_policy={
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            "global_keyprefix": f"{settings.redis_prefix}:celery:",
        },
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        # a worker started without --queues consumes both, the single submissions first
        task_queues=[Queue(name) for name in QUEUES],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        broker_pool_limit=4,
    )
    return app


app = make_app()


def _start_heartbeat(**_: object) -> None:
    """Tell /healthz this worker is alive, every 10 s, from the worker's main process."""
    from store.errors import StoreError
    from store.redis_store import RedisStore

    settings = get_settings()
    name = f"{socket.gethostname()}:{os.getpid()}"

    def beat() -> None:
        store = RedisStore.from_url(settings.require_redis_url(), settings.redis_prefix)
        while True:
            with contextlib.suppress(StoreError):  # Redis down: beats resume when it returns
                store.heartbeat(name, ttl=30)
            time.sleep(10)

    threading.Thread(target=beat, name="accord-heartbeat", daemon=True).start()


worker_ready.connect(_start_heartbeat, weak=False)
