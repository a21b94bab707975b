"""Coalescing of enqueues: the declarations stored within a few milliseconds of each
other go to the workers as one task, so the queue's per-message cost (publishing,
delivery, acknowledgement) is paid once per chunk rather than once per declaration,
at the price of at most `window` seconds of latency.

Handing ids to the coalescer is not what a 202 promises (storing is): if the process
dies with ids not yet sent, the sweeper enqueues those declarations again."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)


class Coalescer:
    def __init__(
        self, send: Callable[[list[str]], None], window: float = 0.005, chunk: int = 25
    ) -> None:
        self.send = send
        self.window = window
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
        while True:
            chunk = [self.waiting.get()]
            deadline = time.monotonic() + self.window
            while len(chunk) < self.chunk:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    chunk.append(self.waiting.get(timeout=remaining))
                except queue.Empty:
                    break
            try:
                self.send(chunk)
            except Exception:  # the declarations are stored; the sweeper enqueues them again
                log.exception("could not enqueue %d declarations; the sweeper will", len(chunk))
