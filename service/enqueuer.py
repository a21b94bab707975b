"""Coalescing of enqueues: declarations go to the workers in tasks of up to `chunk`, so
the queue's per-message cost (publishing, delivery, acknowledgement, and the worker's
reads and writes of a chunk, one round trip each) is paid once per chunk rather than
once per declaration.

A coalescer sends at most one task per `interval` while declarations keep coming: the
first one after a quiet spell goes at once (no added latency at low load), and under
load each task carries what arrived since the previous one (about rate x interval, up
to `chunk`). A fixed window after the first declaration did the opposite: it delayed
every lone declaration by the window, and under load still sent chunks of one or two,
since the window was short to keep that delay small (docs/performance.md, "End to end",
has what a task costs).

Handing ids to the coalescer is not what a 202 promises (storing is): if the process
dies with ids not yet sent, the sweeper enqueues those declarations again.

A send that fails (Redis restarting or failing over, a broker connection found dead on
the first publish after Redis's return) is tried again with back-off, RETRY_FIRST doubling
to RETRY_MAX, for up to RETRY_FOR seconds, then left to the sweeper. Leaving it to the
sweeper at once made a declaration whose re-enqueue on Redis's return met a stale
connection wait minutes (ACCORD_SWEEP_AFTER) for a verdict it could have had in a second:
the API's watch of Redis re-enqueues only once per return."""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

RETRY_FIRST = 0.25  # seconds before the first new try of a send that failed
RETRY_MAX = 4.0
RETRY_FOR = 120.0  # then the declarations are left to the sweeper


class Coalescer:
    def __init__(
        self,
        send: Callable[[list[str]], None],
        interval: float = 0.01,
        chunk: int = 25,
        retry_for: float = RETRY_FOR,
    ) -> None:
        self.send = send
        self.retry_for = retry_for
        self.interval = interval
        self.chunk = chunk
        self.waiting: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def __call__(self, declaration_ids: Sequence[str]) -> None:
        for declaration_id in declaration_ids:
            self.waiting.put(declaration_id)
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="accord-enqueue", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        last_sent = -math.inf
        while True:
            chunk = [self.waiting.get()]
            # until `interval` after the previous task (at once after a quiet spell), take
            # what arrives; past it, only what is already waiting
            not_before = last_sent + self.interval
            while len(chunk) < self.chunk:
                remaining = not_before - time.monotonic()
                try:
                    chunk.append(
                        self.waiting.get(timeout=remaining)
                        if remaining > 0
                        else self.waiting.get_nowait()
                    )
                except queue.Empty:
                    break
            last_sent = time.monotonic()
            self._send_or_retry(chunk)

    def _send_or_retry(self, chunk: list[str]) -> None:
        """Send `chunk`, trying again with back-off while it fails, for `retry_for` seconds.
        An outage is expected: one line when it starts failing and one when it gives up or
        succeeds again, not a traceback per try."""
        first_failure: float | None = None
        delay = RETRY_FIRST
        while True:
            try:
                self.send(chunk)
            except Exception as exc:  # the declarations are stored: nothing is lost
                now = time.monotonic()
                if first_failure is None:
                    first_failure = now
                    log.warning(
                        "could not enqueue %d declarations (%s: %s); trying again",
                        len(chunk),
                        type(exc).__name__,
                        exc,
                    )
                if now - first_failure >= self.retry_for:
                    log.warning(
                        "gave up enqueueing %d declarations after %.0f s; they stay pending "
                        "for the sweeper",
                        len(chunk),
                        now - first_failure,
                    )
                    return
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            if first_failure is not None:
                log.warning(
                    "enqueued %d declarations after %.1f s of failed tries",
                    len(chunk),
                    time.monotonic() - first_failure,
                )
            return
