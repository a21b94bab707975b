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
dies with ids not yet sent, the sweeper enqueues those declarations again."""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)


class Coalescer:
    def __init__(
        self, send: Callable[[list[str]], None], interval: float = 0.01, chunk: int = 25
    ) -> None:
        self.send = send
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
            try:
                self.send(chunk)
            except Exception as exc:  # the declarations are stored: they are enqueued again
                # when Redis answers again (service/recovery.py), else by the sweeper. An
                # outage is expected: one line each, not a traceback.
                log.warning(
                    "could not enqueue %d declarations (%s: %s); they stay pending and are "
                    "enqueued again when Redis answers",
                    len(chunk),
                    type(exc).__name__,
                    exc,
                )
