"""Redis coming back: every declaration stored without a verdict is enqueued again at once.

A Redis restart or a failover can lose the messages in flight: a task a worker had taken
but not finished, a publish that failed while Redis was down, a message the new primary
never received. The declarations themselves are stored, and listed in the `pending` set
until decided; so one thread per API process asks Redis every half second which process
is answering (`run_id`), and when Redis answers again after failing, or a different
Redis answers (restarted, or failed over to a replica), it enqueues every pending
declaration on the bulk queue. Evaluations are idempotent, so the duplicates this
makes are decided once and cost one read each. The sweeper (after ACCORD_SWEEP_AFTER)
remains for what this cannot see, such as a message lost while Redis stayed up.

The first answer after the process starts counts as a return too: an API process that
was restarted re-enqueues what its predecessor may have held unsent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from store import Store, StoreError

log = logging.getLogger(__name__)

WATCH_EVERY = 0.5  # seconds between two looks at Redis


class RedisWatch:
    def __init__(
        self,
        store: Store,
        enqueue: Callable[[list[str]], None],
        every: float = WATCH_EVERY,
    ) -> None:
        self.store = store
        self.enqueue = enqueue
        self.every = every
        self.recoveries = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="accord-redis-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        seen: str | None = None  # the run_id of the Redis that answered last, when it did
        first = True
        while not self._stop.is_set():
            try:
                run_id = self.store.server_run_id()
                if run_id != seen:
                    self.requeue_pending(first=first)
                    seen, first = run_id, False
            except StoreError as exc:
                if seen is not None:
                    log.warning(
                        "Redis is away (%s); pending work is re-enqueued on its return", exc
                    )
                seen = None
            except Exception:  # never leave the process without its watch
                log.exception("watching Redis failed")
                seen = None
            self._stop.wait(self.every)

    def requeue_pending(self, first: bool = False) -> int:
        started = time.monotonic()
        pending = self.store.pending_all()
        if pending:
            self.enqueue(pending)
            if not first:
                self.store.count({"requeued:redis_return": len(pending)})
        self.recoveries += 1
        log.log(
            logging.INFO if first else logging.WARNING,
            "Redis %s: re-enqueued %d pending declarations in %.2f s",
            "answers" if first else "is back",
            len(pending),
            time.monotonic() - started,
        )
        return len(pending)
