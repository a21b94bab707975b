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
- the worker reconnects to a Redis that went away every second (`QuickReconnect`), for
  as long as it takes, rather than Celery's 2, 4, 6 ... 30 s: a Redis restart is routine,
  and what was in flight must be decided within seconds of its return (SPEC §8).
- the pack catalog is loaded once, in the worker's main process before it forks its pool
  (`_load_catalog`): each pool process would otherwise parse every pack's YAML on its
  first task (about 0.15 s of CPU each, on the benchmark machine), which the first
  declarations after every start or restart waited behind. The catalog is plain data;
  the durable-rules host, which is not, is still made in each pool process on first use.
  What the main process holds then is frozen (`gc.freeze`): the pool processes' full
  collections walked every object of the packs, 45 to 80 ms each on the benchmark
  machine, during which every declaration in flight waited (the latency's p99).
- REDIS_URL may name Sentinels (`store/connection.py`); the broker then uses kombu's
  Sentinel transport with the same Sentinels and master.
Evaluations are idempotent by declaration id, so every redelivery is harmless.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
import threading
import time
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_ready
from celery.worker.consumer import Consumer
from celery.worker.state import active_requests, maybe_shutdown
from kombu import Connection, Queue

from settings import get_settings
from store import broker

QUEUE = "accord.evaluate"
BULK_QUEUE = "accord.bulk"
QUEUES = (QUEUE, BULK_QUEUE)


RECONNECT_EVERY = 1.0  # seconds between attempts to reach a Redis that went away

log = logging.getLogger(__name__)


class QuickReconnect(Consumer):
    """Celery's consumer, reconnecting to the broker every second without end, and
    surviving kombu's fault on the way there."""

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError as fault:
            # Celery collects the broken connection (which detaches kombu's transport
            # from it) before closing it; closing the Redis channel then tries to put
            # the unacknowledged messages back through that transport and fails with
            # AttributeError("'NoneType' object has no attribute 'hostname'"), which
            # Celery treats as unrecoverable and stops the worker. Redis is down at that
            # moment anyway, so nothing could have been put back: the messages stay
            # unacknowledged in Redis, and the API re-enqueues their declarations when
            # Redis returns. The consumer reconnects as after any connection loss.
            log.warning("closing the lost broker connection failed (%r); reconnecting", fault)
            # what Celery would have done next: a task still running will not acknowledge
            # on a channel that outlived its connection (kombu's same fault, and the
            # worker's end); it is cancelled and delivered again
            for request in tuple(active_requests):
                if request.task.acks_late and not request.acknowledged:
                    with contextlib.suppress(Exception):
                        request.cancel(self.pool)

    def ensure_connected(self, conn: Connection) -> Connection:
        def on_error(exc: Exception, interval: float) -> None:
            log.warning("broker unreachable (%s); trying again in %.1f s", exc, interval)

        retry: dict[str, Any] = {
            "max_retries": None,  # for as long as Redis is away: a restart is no reason to stop
            "interval_start": 0.2,
            "interval_step": 0.4,
            "interval_max": RECONNECT_EVERY,
            "callback": maybe_shutdown,
        }
        conn = conn.ensure_connection(on_error, **retry)
        self.first_connection_attempt = False
        self.broker_connection_retry_attempt = 0
        return conn


def make_app() -> Celery:
    settings = get_settings()
    broker_url, sentinel_options = broker(
        settings.broker_url or settings.redis_url or "redis://127.0.0.1:6379/0"
    )
    app = Celery("accord", include=["workers.tasks"])
    app.conf.update(
        broker_url=broker_url,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_connection_timeout=2,
        worker_consumer="workers.app:QuickReconnect",
        # a task running when the connection is lost is cancelled and delivered again,
        # rather than acknowledged later on the dead channel
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_publish_retry_policy={
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            "global_keyprefix": f"{settings.redis_prefix}:celery:",
            **sentinel_options,
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


CHUNK = 25  # declarations per re-enqueued task


def requeue_pending(why: str) -> None:
    """Enqueue again every declaration stored without a verdict, in chunks on the bulk
    queue, counted under `requeued:{why}` for /metrics. Duplicates cost one read each;
    evaluations are idempotent."""
    from store import RedisStore

    settings = get_settings()
    store = RedisStore.from_url(settings.require_redis_url(), settings.redis_prefix)
    try:
        pending = store.pending_all()
        for start in range(0, len(pending), CHUNK):
            app.send_task(
                "accord.evaluate_many", args=[pending[start : start + CHUNK]], queue=BULK_QUEUE
            )
        if pending:
            store.count({f"requeued:{why}": len(pending)})
        log.info("%s: re-enqueued %d pending declarations", why, len(pending))
    except Exception as exc:  # Redis away: the API re-enqueues them when it sees Redis again
        # an expected outage: one line, not a traceback
        log.warning(
            "%s: could not re-enqueue the pending declarations (%s: %s); the API does when "
            "Redis answers again",
            why,
            type(exc).__name__,
            exc,
        )
    finally:
        store.close()


def _start_heartbeat(**_: object) -> None:
    """Tell /healthz this worker is alive, every 10 s, from the worker's main process.

    First, enqueue again every declaration stored without a verdict: a worker starting
    may be the restart of one that died (its main process killed, say) holding messages
    it had taken, which Redis would otherwise return only after the visibility timeout."""
    from store import RedisStore, StoreError

    if QUEUE not in (app.amqp.queues.consume_from or {}):
        return  # a webhook delivery worker (workers/webhook_delivery.py) decides no declaration
    settings = get_settings()
    name = f"{socket.gethostname()}:{os.getpid()}"

    def beat() -> None:
        requeue_pending("worker_start")
        store = RedisStore.from_url(settings.require_redis_url(), settings.redis_prefix)
        while True:
            with contextlib.suppress(StoreError):  # Redis down: beats resume when it returns
                store.heartbeat(name, ttl=30)
            time.sleep(10)

    threading.Thread(target=beat, name="accord-heartbeat", daemon=True).start()


def _load_catalog(**_: object) -> None:
    """The catalog, loaded before the pool forks, so that every pool process has it, and
    kept out of the collector's passes."""
    from workers import context

    context.catalog()
    gc.collect()  # what loading left behind, collected rather than frozen for good
    gc.freeze()


worker_init.connect(_load_catalog, weak=False)
worker_ready.connect(_start_heartbeat, weak=False)
